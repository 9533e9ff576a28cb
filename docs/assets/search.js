// Pagefind's search UI in Material's search dialog (theme partial search.html); each page
// searches the index of its own language. The dialog is Material's __search toggle.
function mountBookSearch() {
  const host = document.getElementById("la-search");
  const toggle = document.getElementById("__search");
  if (!host || host.dataset.mounted || typeof PagefindUI === "undefined") return;
  host.dataset.mounted = "1";
  new PagefindUI({
    element: host,
    bundlePath: new URL(host.dataset.bundle, document.baseURI).pathname,  // absolute: Pagefind imports from it
    showImages: false,
    showSubResults: true,
    excerptLength: 24,
    resetStyles: false,
    translations: { placeholder: host.dataset.placeholder },
  });
  const input = () => host.querySelector(".pagefind-ui__search-input");
  if (toggle) {
    // opening the dialog (header button, phone) puts the cursor in the box
    toggle.addEventListener("change", () => { if (toggle.checked && input()) input().focus(); });
    // typing in the box on desktop opens the dialog's overlay; a result or Escape closes it
    host.addEventListener("focusin", () => { toggle.checked = true; });
    host.addEventListener("click", (event) => {
      if (event.target.closest("a")) toggle.checked = false;
    });
    document.addEventListener("keydown", (event) => {
      const typing = event.target.closest && event.target.closest("input, textarea, [contenteditable]");
      if (event.key === "Escape" && toggle.checked) {
        toggle.checked = false;
        if (input()) input().blur();
      } else if (!typing && (event.key === "/" || event.key === "s" || event.key === "f")) {
        event.preventDefault();
        toggle.checked = true;
        if (input()) input().focus();
      }
    });
  }
}
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mountBookSearch);
} else {
  mountBookSearch();
}
