// MathJax 3 for the site: the formulas of pymdownx.arithmatex (generic mode: \( \), \[ \]) and the
// $...$ / $$...$$ maths of the notebooks' Markdown cells (rendered by mkdocs-jupyter). Only those
// elements are processed, so a dollar sign in ordinary text is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex|jp-RenderedMarkdown"}
};
document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
