// pymdownx.arithmatex turns $...$ and $$...$$ into \(...\) and \[...\]; render them with the KaTeX copy shipped in this site (no CDN).
// Material's `document$` fires on every page load, so math renders after navigation too.
function renderBookMath() {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(renderBookMath);
} else {
  document.addEventListener("DOMContentLoaded", renderBookMath);
}
