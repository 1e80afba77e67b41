// 我的任务: live progress. Every row still running carries data-job-url (its JSON status); poll it every
// second, update the bar, the count, the status and the message, and show the download link when done.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var BADGE = {queued: "badge-secondary", running: "badge-info", done: "badge-success", failed: "badge-danger"};

  function update(row, job) {
    var bar = row.querySelector(".progress-bar");
    bar.style.width = job.percent + "%";
    bar.setAttribute("aria-valuenow", String(job.percent));
    row.querySelector(".progress").title = job.done + " / " + job.total;
    row.querySelector(".job-count").textContent = job.done + " / " + job.total;
    var status = row.querySelector(".job-status");
    status.textContent = job.status_label;
    status.className = "badge job-status " + (BADGE[job.status] || "badge-secondary");
    row.querySelector(".job-message").textContent = job.message || "";
    row.querySelector(".job-finished").textContent = job.finished_at || "";
    if (job.finished) {
      bar.classList.remove("progress-bar-striped", "progress-bar-animated");
      bar.classList.add(job.status === "done" ? "bg-success" : "bg-danger");
      if (job.download_url) {
        var link = row.querySelector(".job-download");
        link.href = job.download_url;
        link.classList.remove("d-none");
      }
    }
  }

  function poll(row) {
    var url = row.getAttribute("data-job-url");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (resp) {
        if (!resp.ok) { throw new Error(resp.status); }
        return resp.json();
      })
      .then(function (job) {
        update(row, job);
        if (!job.finished) { window.setTimeout(function () { poll(row); }, POLL_MS); }
      })
      .catch(function () {
        // A network hiccup or a restarting server: try again a little later.
        window.setTimeout(function () { poll(row); }, POLL_MS * 5);
      });
  }

  document.querySelectorAll("tr[data-job-url]").forEach(function (row) {
    window.setTimeout(function () { poll(row); }, POLL_MS);
  });
})();
