from generation.params import SpectrogramParams
from generation.types import Endpoint, GenerationRequest, Mode


def test_default_geometry_is_riffusions() -> None:
    params = SpectrogramParams()
    assert (params.hop_length, params.win_length, params.n_fft) == (441, 4410, 17640)
    assert params.samples_for_width(512) == 225_351
    assert params.width_for_samples(params.samples_for_width(512)) == 512


def test_request_round_trips_through_plain_dict() -> None:
    request = GenerationRequest(
        mode=Mode.BLEND,
        start=Endpoint("jazz", 1),
        end=Endpoint("techno 🎛️", 2, strength=0.6),
        alpha=0.25,
    )
    assert GenerationRequest.from_dict(request.to_dict()) == request
    assert request.to_dict()["mode"] == "blend"
