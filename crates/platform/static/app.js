// Progressive enhancement only: every page works without this file.
// Confirm dangerous actions (forms marked data-confirm) before they are sent.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
