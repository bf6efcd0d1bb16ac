// Times in the viewer's time zone: relative text, the absolute time on hover.
function ordoTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (isNaN(at)) continue;
    const seconds = Math.round((now - at.getTime()) / 1000);
    const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    let text = "just now";
    for (const [unit, size] of units) {
      const n = Math.floor(Math.abs(seconds) / size);
      if (n >= 1) { text = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(seconds > 0 ? -n : n, unit); break; }
    }
    el.textContent = text;
    el.title = at.toLocaleString();
  }
}
ordoTimes(document);
// A running job's page follows it: the server sends the new state of its live part.
const live = document.querySelector("[data-live]");
if (live && window.EventSource) {
  const events = new EventSource(live.getAttribute("data-live"));
  events.addEventListener("update", (event) => {
    live.innerHTML = event.data;
    ordoTimes(live);
    if (live.querySelector("[data-final]")) events.close();
  });
}
