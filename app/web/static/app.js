/* Beyond panel: drag-and-drop upload, confirmations, and live job updates.
   Hand-written, no libraries, nothing from the internet. Every page works without it; this
   only adds convenience. Configuration comes from data-* attributes (no inline script, so the
   Content-Security-Policy can forbid inline code). */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* -- confirmations (delete, revoke) --------------------------------------------------------- */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  /* -- copy buttons (the new API token) ------------------------------------------------------- */
  $all("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = $(button.getAttribute("data-copy"));
      if (!input) { return; }
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });

  /* -- upload: drag and drop, early size check ------------------------------------------------ */
  function formatSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"], value = bytes, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i === 0 ? value + " bytes" : value.toFixed(1) + " " + units[i];
  }

  var form = $("#upload-form");
  if (form) {
    var input = $("#file-input"), zone = $("#dropzone"), chosen = $("#chosen-file");
    var status = $("#upload-status"), button = $("#upload-button");
    var limit = parseInt(form.getAttribute("data-limit"), 10) || 0;

    var describe = function () {
      var file = input.files && input.files[0];
      chosen.textContent = file ? file.name + " (" + formatSize(file.size) + ")" : "";
      status.textContent = "";
    };
    input.addEventListener("change", describe);

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        if (!zone.contains(event.relatedTarget)) { zone.classList.remove("dragging"); }
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      if (files.length > 1) { status.textContent = "Drop one file at a time."; return; }
      input.files = files;  // the normal form submission then sends it
      describe();
      input.focus();
    });
    // Dropping a file elsewhere on the page must not navigate away from the panel.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });

    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) { return; }
      if (limit && file.size > limit) {
        // Say it now instead of sending megabytes the server will refuse (it answers 413 too).
        event.preventDefault();
        status.textContent = "“" + file.name + "” is " + formatSize(file.size) + ", more than the upload limit of " +
          form.getAttribute("data-limit-text") + ".";
        return;
      }
      button.disabled = true;
      status.textContent = "Uploading and checking “" + file.name + "”…";
    });
  }

  var problems = $("#upload-problems");
  if (problems) { problems.focus(); }

  /* -- browser notifications (only if the user allows them) ------------------------------------ */
  var notifyButton = $("#enable-notifications");
  if (notifyButton && "Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }

  /* -- a job's page: follow it while it waits or runs; reload when its status changes ---------- */
  function seconds(value) {
    if (value < 60) { return value.toFixed(1) + " s"; }
    var m = Math.floor(value / 60), s = Math.floor(value % 60), h = Math.floor(m / 60);
    return h ? h + " h " + ("0" + (m % 60)).slice(-2) + " min" : m + " min " + ("0" + s).slice(-2) + " s";
  }
  var jobPage = $("[data-live-job]");
  if (jobPage) {
    var jobId = parseInt(jobPage.getAttribute("data-job-id"), 10);
    var jobStatus = jobPage.getAttribute("data-status");
    var jobSince = jobPage.getAttribute("data-since");
    var jobEvery = parseInt(jobPage.getAttribute("data-poll-ms"), 10) || 2000;
    var field = function (name, text) {
      var node = $("[data-field='" + name + "']", jobPage);
      if (node && text !== null && node.textContent !== text) { node.textContent = text; }
    };
    var followJob = function () {
      fetch(jobPage.getAttribute("data-updates-url") + "?since=" + encodeURIComponent(jobSince || ""),
            { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          jobSince = data.now;
          var job = data.jobs.filter(function (j) { return j.id === jobId; })[0];
          if (!job) { return; }
          if (job.status !== jobStatus) { window.location.reload(); return; }
          field("rows", job.display.rows);
          field("duration", job.display.duration);
          if (job.rows_per_second) { field("rate", Math.round(job.rows_per_second).toLocaleString("en-US")); }
          if (job.seconds_left !== null) { field("eta", seconds(job.seconds_left)); }
          if (job.queue_position) {
            field("queue", job.queue_position === 1 ? "next to run" :
                  "number " + job.queue_position + " (" + (job.queue_position - 1) + " before it)");
          }
        })
        .catch(function () { /* offline for a moment: the next poll catches up */ })
        .then(function () { window.setTimeout(followJob, document.hidden ? Math.max(jobEvery, 10000) : jobEvery); });
    };
    window.setTimeout(followJob, jobEvery);
    return;
  }

  /* -- live updates ------------------------------------------------------------------------------- */
  var live = $("[data-updates-url]");
  if (!live) { return; }
  var since = live.getAttribute("data-since");
  var newestId = parseInt(live.getAttribute("data-newest-id"), 10) || 0;
  var pollMs = parseInt(live.getAttribute("data-poll-ms"), 10) || 2000;
  var nextUrl = live.getAttribute("data-next") || "/jobs";
  var announced = {};
  var notices = $("#notices");
  var stopped = false;

  function rowFrom(html) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();  // rendered and escaped by the server's template
    return holder.firstElementChild;
  }

  function setText(row, name, text) {
    var cell = $("[data-field='" + name + "']", row);
    if (cell && cell.textContent !== text) { cell.textContent = text; }
  }

  function applyJob(job) {
    var row = document.getElementById("job-" + job.id);
    if (!row) { return; }
    var same = row.getAttribute("data-status") === job.status &&
      $("[data-field='attempts']", row).textContent.trim() === String(job.attempts);
    if (same) {
      // Still in the same state: only progress and time move. Updating in place keeps the
      // keyboard focus where the user left it.
      var bar = $("progress", row);
      if (bar && job.rows_total) { bar.max = job.rows_total; bar.value = job.rows_done; }
      bar && (bar.textContent = Math.round(job.progress * 100) + "%");
      setText(row, "rows", job.display.rows + " rows");
      setText(row, "duration", job.display.duration);
      // rows/s, time left, place in the queue: as the server's template wrote them
      var fresh = rowFrom(job.row_html);
      ["rate", "queue"].forEach(function (name) {
        var now = $("[data-field='" + name + "']", fresh), old = $("[data-field='" + name + "']", row);
        if (now && old) { setText(row, name, now.textContent); }
        else if (now && !old) { var at = $("[data-field='rows']", row); if (at) { at.after(now); } }
        else if (old && !now) { old.remove(); }
      });
      return;
    }
    var focused = document.activeElement && row.contains(document.activeElement) ? document.activeElement : null;
    var focusKey = focused ? (focused.closest("form") ? focused.closest("form").getAttribute("action") : focused.getAttribute("href")) : null;
    var fresh = rowFrom(job.row_html);
    row.replaceWith(fresh);
    fresh.classList.add("flash-row");
    if (focusKey) {
      var again = $("form[action='" + focusKey + "'] button", fresh) || $("a[href='" + focusKey + "']", fresh) || $("a", fresh);
      if (again) { again.focus(); }
    }
  }

  function announce(item) {
    var key = item.id + "|" + item.finished_at;
    if (announced[key]) { return; }
    announced[key] = true;
    var ok = item.status === "PROCESS OK";
    var box = document.createElement("div");
    box.className = "notice " + (ok ? "notice-ok" : "notice-error");
    box.setAttribute("role", ok ? "status" : "alert");
    var text = document.createElement("span");
    var cancelled = item.status === "CANCELLED";
    text.textContent = "“" + item.file_name + "” " + (ok ? "finished: PROCESS OK." : cancelled ? "was cancelled." : "ended with an ERROR" + (item.error ? ": " + item.error : "."));
    box.appendChild(text);
    if (item.result_url) {
      var link = document.createElement("a");
      link.href = item.result_url;
      link.className = "btn btn-small btn-primary";
      link.textContent = "Download .xlsx";
      link.setAttribute("download", "");
      box.appendChild(link);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    notices.prepend(box);
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification("Beyond: " + item.file_name, {
          body: ok ? "Finished: PROCESS OK. The result is ready to download." : cancelled ? "Cancelled." : "Ended with an ERROR.",
          tag: "beyond-job-" + item.id
        });
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
  }

  function poll() {
    if (stopped) { return; }
    var url = live.getAttribute("data-updates-url") + "?since=" + encodeURIComponent(since || "") +
      "&next=" + encodeURIComponent(nextUrl);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          stopped = true;
          var box = document.createElement("div");
          box.className = "notice notice-error";
          box.setAttribute("role", "alert");
          box.textContent = "Your session ended. Sign in again to see live updates.";
          notices.prepend(box);
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data) { return; }
        since = data.now;
        data.jobs.forEach(applyJob);
        data.finished.forEach(announce);
        Object.keys(data.counts || {}).forEach(function (status) {
          var count = $(".chip-" + status.toLowerCase().replace(/ /g, "-") + " .count");
          if (count) { count.textContent = data.counts[status]; }
        });
        if (data.newest_id > newestId) {
          var banner = $("#new-jobs");
          if (banner) { banner.hidden = false; }
        }
      })
      .catch(function () { /* offline for a moment: the next poll catches up */ })
      .then(function () {
        if (!stopped) { window.setTimeout(poll, document.hidden ? Math.max(pollMs, 10000) : pollMs); }
      });
  }
  window.setTimeout(poll, pollMs);
})();
