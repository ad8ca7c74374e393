// The gallery's one behaviour: "Copy as /riff command" (or /blend, for a blend).
for (const button of document.querySelectorAll('button.copy')) {
  const label = button.textContent;
  button.addEventListener('click', async () => {
    const text = button.dataset.copy;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch (error) {
      const code = button.parentElement.querySelector('code.cmd');
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
