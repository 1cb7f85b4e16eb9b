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

  var shown = null;
  try { shown = sessionStorage.getItem("beyond-show-job"); sessionStorage.removeItem("beyond-show-job"); } catch (e) { shown = null; }
  if (shown && /^\d+$/.test(shown) && window.history && history.replaceState) {
    history.replaceState(null, "", location.pathname + location.search + "#job-" + shown);
    var shownRow = document.getElementById("job-" + shown);
    if (shownRow) { shownRow.scrollIntoView({block: "nearest"}); }
  }

  /* -- upload: XHR with progress and cancel, several files, drop anywhere, duplicates ------------ */
  function formatSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"], value = bytes, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i === 0 ? value + " bytes" : value.toFixed(1) + " " + units[i];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // A file name with a line-break opportunity after each _ . and - (as the server's
  // `breakable` filter does): long names wrap between their parts, not mid-word.
  function breakableName(className, name) {
    var node = el("span", className);
    name.split(/(?<=[_.\-])/).forEach(function (part, i) {
      if (i) { node.appendChild(document.createElement("wbr")); }
      node.appendChild(document.createTextNode(part));
    });
    return node;
  }

  var form = $("#upload-form");
  if (form) {
    var input = $("#file-input"), zone = $("#dropzone"), chosen = $("#chosen-file");
    var status = $("#upload-status"), button = $("#upload-button"), queue = $("#upload-queue");
    var limit = parseInt(form.getAttribute("data-limit"), 10) || 0;
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var modelSelect = $("#model-select");
    var picked = [];  // the files to upload: chosen or dropped

    var describe = function () {
      chosen.textContent = picked.map(function (f) { return f.name + " (" + formatSize(f.size) + ")"; }).join(", ");
      status.textContent = "";
      if (picked.length) { modelHint(picked[0]); }  // which model the (first) file's header fits
    };
    input.addEventListener("change", function () { picked = Array.prototype.slice.call(input.files || []); describe(); });
    if (modelSelect) {
      // The template link and the column list follow the model selected (by hand or by modelHint).
      var showModel = function () {
        $all("[data-template-for]").forEach(function (a) { a.hidden = a.getAttribute("data-template-for") !== modelSelect.value; });
        var option = modelSelect.options[modelSelect.selectedIndex], list = $("#column-list");
        if (!option || !list) { return; }
        var columns = JSON.parse(option.getAttribute("data-features") || "[]");
        $("#columns-model").textContent = option.value;
        $("#columns-count").textContent = String(columns.length);
        list.textContent = "";
        columns.forEach(function (name) { var item = el("li"); item.appendChild(el("code", "", name)); list.appendChild(item); });
      };
      modelSelect.addEventListener("change", showModel);
      showModel();  // a browser that restored another selection on reload
    }

    var dragging = function (on) { zone.classList.toggle("dragging", on); document.body.classList.toggle("drop-target", on); };
    // Files dropped anywhere on the page are taken, not opened by the browser.
    window.addEventListener("dragover", function (event) { event.preventDefault(); dragging(true); });
    window.addEventListener("dragenter", function (event) { event.preventDefault(); dragging(true); });
    window.addEventListener("dragleave", function (event) { if (!event.relatedTarget) { dragging(false); } });
    window.addEventListener("drop", function (event) {
      event.preventDefault();
      dragging(false);
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      picked = Array.prototype.slice.call(files);
      try { input.files = files; } catch (e) { /* older browsers: the list above is used */ }
      describe();
      input.focus();
    });

    function sha256(file) {
      if (!(window.crypto && crypto.subtle && file.arrayBuffer) || file.size > 512 * 1024 * 1024) {
        return Promise.resolve(null);
      }
      return file.arrayBuffer().then(function (data) { return crypto.subtle.digest("SHA-256", data); }).then(function (hash) {
        return Array.prototype.map.call(new Uint8Array(hash), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      }).catch(function () { return null; });
    }

    function askDuplicate(item, file) {
      // The user's earlier job with the same content: say so, let them skip or upload anyway.
      return sha256(file).then(function (digest) {
        if (!digest) { return true; }
        return fetch("/jobs/duplicate?sha256=" + digest, {credentials: "same-origin", headers: {"Accept": "application/json"}})
          .then(function (r) { return r.ok ? r.json() : {job_id: null}; })
          .then(function (found) {
            if (!found.job_id) { return true; }
            return new Promise(function (resolve) {
              var warn = el("div", "upload-warning flash flash-warning");
              warn.setAttribute("role", "alert");
              warn.appendChild(document.createTextNode("“" + file.name + "” has the same content as "));
              var link = el("a", "", "job #" + found.job_id + " (“" + found.file_name + "”, " + found.status + ")");
              link.href = "/jobs#job-" + found.job_id;
              warn.appendChild(link);
              warn.appendChild(document.createTextNode(", uploaded before. "));
              var again = el("button", "btn btn-small", "Upload anyway"), skip = el("button", "btn btn-quiet btn-small", "Skip");
              again.type = skip.type = "button";
              warn.appendChild(again); warn.appendChild(skip);
              item.appendChild(warn);
              again.addEventListener("click", function () { warn.remove(); resolve(true); });
              skip.addEventListener("click", function () { warn.remove(); item.querySelector(".upload-state").textContent = "Skipped."; resolve(false); });
              again.focus();
            });
          }).catch(function () { return true; });
      });
    }

    function showProblems(item, file, answer) {
      var box = el("div", "upload-result flash flash-error");
      box.setAttribute("role", "alert");
      box.tabIndex = -1;
      var head = el("p"), strong = el("strong", "", "“" + file.name + "”: " + (answer.error || "The upload failed."));
      head.appendChild(strong); box.appendChild(head);
      var errors = answer.errors || [];
      if (errors.length) {
        var table = el("table", "problems-table"), thead = el("thead"), tr = el("tr"), tbody = el("tbody");
        ["Row", "Column", "Problem"].forEach(function (h) { var th = el("th", "", h); th.scope = "col"; tr.appendChild(th); });
        thead.appendChild(tr); table.appendChild(thead);
        errors.forEach(function (p) {
          var row = el("tr");
          row.appendChild(el("td", "num", p.row === null || p.row === undefined ? "—" : String(p.row)));
          row.appendChild(el("td", "", p.column === null || p.column === undefined ? "—" : p.column));
          row.appendChild(el("td", "", p.message));
          tbody.appendChild(row);
        });
        table.appendChild(tbody); box.appendChild(table);
        box.appendChild(el("p", "small", "Nothing was stored; fix the file and upload it again."));
      }
      item.appendChild(box);
      return box;
    }

    function send(item, file) {
      return new Promise(function (resolve) {
        var xhr = new XMLHttpRequest(), started = Date.now();
        var bar = el("progress", "upload-progress"), state = item.querySelector(".upload-state");
        var cancel = el("button", "btn btn-quiet btn-small upload-cancel", "Cancel");
        bar.max = 100; bar.value = 0;
        bar.setAttribute("aria-label", "Upload of " + file.name);
        cancel.type = "button";
        item.insertBefore(bar, state); item.appendChild(cancel);
        cancel.addEventListener("click", function () { xhr.abort(); });
        xhr.upload.addEventListener("progress", function (event) {
          if (!event.lengthComputable) { return; }
          var percent = Math.floor(100 * event.loaded / event.total), seconds = (Date.now() - started) / 1000;
          bar.value = percent;
          state.textContent = percent + " % · " + (seconds > 0 ? formatSize(event.loaded / seconds) + "/s" : "");
          if (event.loaded >= event.total) { state.textContent = "100 % · checking…"; }
        });
        var finish = function (outcome) { cancel.remove(); resolve(outcome); };
        xhr.addEventListener("abort", function () { bar.remove(); state.textContent = "Cancelled; nothing was stored."; item.classList.add("cancelled"); finish({cancelled: true}); });
        xhr.addEventListener("error", function () { state.textContent = "The connection failed; nothing was stored."; finish({failed: true}); });
        xhr.addEventListener("load", function () {
          var answer = {};
          try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {ok: false, error: "The server answered " + xhr.status + "."}; }
          bar.value = 100;
          if (xhr.status === 201 && answer.ok) {
            state.textContent = "";
            var link = el("a", "", answer.message);
            link.href = "/jobs#job-" + answer.job_id;
            state.appendChild(link);
            if (answer.warning) {  // some rows hold cells that do not fit: they will not be scored
              var note = el("p", "small upload-warning flash flash-warning", answer.warning);
              note.setAttribute("role", "status");
              item.appendChild(note);
            }
            item.classList.add("accepted");
            finish({accepted: answer});
          } else {
            state.textContent = "Not accepted.";
            item.classList.add("rejected");
            finish({rejected: showProblems(item, file, answer)});
          }
        });
        var data = new FormData();
        data.append("csrf_token", csrf);
        if (modelSelect) { data.append(modelSelect.name, modelSelect.value); }
        data.append("file", file, file.name);
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.send(data);
      });
    }

    form.addEventListener("submit", function (event) {
      if (!picked.length && input.files) { picked = Array.prototype.slice.call(input.files); }
      if (!picked.length || !window.XMLHttpRequest || !window.FormData) { return; }  // the plain form post
      event.preventDefault();
      var files = picked.slice();
      picked = [];
      queue.hidden = false;
      queue.textContent = "";
      var old = $("#upload-problems");
      if (old) { old.remove(); }
      button.disabled = true;
      status.textContent = files.length > 1 ? "Uploading " + files.length + " files, one after another…" : "";
      var results = [];
      var next = function (i) {
        if (i >= files.length) { return done(); }
        var file = files[i], item = el("li", "upload-item");
        item.appendChild(breakableName("upload-name", file.name + " (" + formatSize(file.size) + ")"));
        item.appendChild(el("span", "upload-state small"));
        queue.appendChild(item);
        if (limit && file.size > limit) {
          // Said now instead of sending megabytes the server refuses (it answers 413 too).
          item.querySelector(".upload-state").textContent = "“" + file.name + "” is " + formatSize(file.size) +
            ", more than the upload limit of " + form.getAttribute("data-limit-text") +
            ". Compress it (.csv.gz, or a .zip holding the one CSV), save it as Parquet, or split it.";
          item.classList.add("rejected");
          results.push({rejected: true});
          return next(i + 1);
        }
        askDuplicate(item, file).then(function (go) {
          if (!go) { results.push({skipped: true}); return next(i + 1); }
          return send(item, file).then(function (outcome) { results.push(outcome); next(i + 1); });
        });
      };
      var done = function () {
        button.disabled = false;
        input.value = "";
        chosen.textContent = "";
        var accepted = results.filter(function (r) { return r.accepted; });
        var troubled = results.filter(function (r) { return !r.accepted; });
        status.textContent = accepted.length + " of " + results.length + " accepted.";
        if (accepted.length && !troubled.length) {
          // Everything went in: show the list with the new jobs (the server flashed each).
          // A real reload (a hash change alone would not load the new rows); the page then
          // points its address at the newest job, as the form post's redirect does.
          try { sessionStorage.setItem("beyond-show-job", String(accepted[accepted.length - 1].accepted.job_id)); } catch (e) { /* private mode */ }
          location.reload();
          return;
        }
        var rejected = troubled.filter(function (r) { return r.rejected && r.rejected.focus; });
        if (files.length === 1 && rejected.length) { rejected[0].rejected.id = "upload-problems"; }
        if (rejected.length) { rejected[0].rejected.focus(); }
        if (accepted.length) {
          var refresh = el("a", "btn btn-small", "Show the new files in the list");
          refresh.href = "/jobs#job-" + accepted[accepted.length - 1].accepted.job_id;
          refresh.addEventListener("click", function () { setTimeout(function () { location.reload(); }, 0); });
          status.appendChild(document.createTextNode(" "));
          status.appendChild(refresh);
        }
      };
      next(0);
    });
  }

  /* -- which model a file's header fits ----------------------------------------------------------
     With several models, read the chosen file's first lines and say which models' required
     columns its header has; when only one fits and another is selected, select that one. The
     server checks the file again whatever this says (and names the fitting model too). */
  function headerCells(line) {
    var best = [];
    [",", ";", "\t", "|"].forEach(function (sep) {
      var cells = line.split(sep);
      if (cells.length > best.length) { best = cells; }
    });
    return best.map(function (cell) {
      return cell.replace(/^\ufeff/, "").trim().replace(/^"(.*)"$/, "$1").trim().toLowerCase();
    });
  }

  function modelHint(file) {
    var select = $("#model-select"), hint = $("#model-hint");
    if (!select || !hint || !file.slice || !window.TextDecoder) { return; }
    hint.textContent = "";
    var reader = new FileReader();
    reader.onload = function () {
      var text = new TextDecoder("utf-8").decode(new Uint8Array(reader.result));
      // The header may sit under a title line or two, as in spreadsheet exports.
      var lines = text.split(/\r\n|\n|\r/).slice(0, 20).filter(function (l) { return l.trim() !== ""; });
      var headers = lines.map(headerCells);
      var fits = Array.prototype.filter.call(select.options, function (option) {
        var needed = JSON.parse(option.getAttribute("data-columns") || "[]");
        return headers.some(function (cells) {
          return needed.every(function (name) { return cells.indexOf(name.trim().toLowerCase()) >= 0; });
        });
      });
      var selected = select.options[select.selectedIndex];
      if (!fits.length || (fits.length > 1 && fits.indexOf(selected) >= 0)) { return; }
      if (fits.length === 1) {
        if (fits[0] !== selected) {
          select.value = fits[0].value;
          select.dispatchEvent(new Event("change"));  // the help and template link follow
          hint.textContent = "This file’s header fits only model " + fits[0].value + ": it is selected now.";
        } else {
          hint.textContent = "This file’s header fits only model " + fits[0].value + ".";
        }
      } else {
        hint.textContent = "This file’s header fits models " +
          fits.map(function (o) { return o.value; }).join(", ") + ": choose one.";
      }
    };
    reader.readAsArrayBuffer(file.slice(0, 65536));
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


  /* -- bulk actions: selected rows, or all N matching the filter; one confirmation ----------- */
  var bulkForm = $("#bulk-form");
  function updateBulk() {
    if (!bulkForm) { return; }
    var boxes = $all("input.select-job");
    var picked = boxes.filter(function (b) { return b.checked; }).length;
    var everyOne = $("#bulk-scope").value === "all";
    var total = parseInt(bulkForm.getAttribute("data-total"), 10) || 0;
    var pageBox = $("#select-page");
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && picked === boxes.length;
      pageBox.indeterminate = picked > 0 && picked < boxes.length;
    }
    var allButton = $("#bulk-all");
    if (allButton) { allButton.textContent = "Select all " + total.toLocaleString("en-US") + " matching this filter"; }
    if (allButton) { allButton.hidden = everyOne || !(picked === boxes.length && boxes.length > 0 && total > boxes.length); }
    var chosen = everyOne ? total : picked;
    bulkForm.setAttribute("data-chosen", String(chosen));
    $("#bulk-count").textContent = everyOne ? "All " + total.toLocaleString("en-US") + " files matching this filter are selected." :
      (picked ? picked + " file" + (picked === 1 ? "" : "s") + " selected." : "Select files to act on several at once.");
    $all(".bulk-buttons button", bulkForm).forEach(function (b) { b.disabled = chosen === 0; });
  }
  if (bulkForm) {
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.id === "select-page") {
        $all("input.select-job").forEach(function (b) { b.checked = target.checked; });
        $("#bulk-scope").value = "";
      } else if (target.classList && target.classList.contains("select-job")) {
        $("#bulk-scope").value = "";
      } else { return; }
      updateBulk();
    });
    $("#bulk-all").addEventListener("click", function () {
      $("#bulk-scope").value = "all";
      updateBulk();
    });
    bulkForm.addEventListener("submit", function (event) {
      var button = event.submitter;
      var count = parseInt(bulkForm.getAttribute("data-chosen"), 10) || 0;
      if (!button || !count) { event.preventDefault(); return; }
      var files = count.toLocaleString("en-US") + " file" + (count === 1 ? "" : "s");
      var question = button.getAttribute("data-label") + " " + files + "?" +
        (button.getAttribute("data-danger") ? " Their results are removed too; this cannot be undone." : "");
      if (!window.confirm(question)) { event.preventDefault(); return; }
      $("#bulk-confirmed").value = "1";  // asked here: the server acts at once
    });
    updateBulk();
  }

  /* -- the tab title counts running jobs ------------------------------------------------------ */
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  function setTitle(running) { document.title = (running ? "(" + running + ") " : "") + baseTitle; }

  /* -- live updates ------------------------------------------------------------------------------- */
  var live = $("[data-updates-url]");
  if (!live) { return; }
  var since = live.getAttribute("data-since");
  var newestId = parseInt(live.getAttribute("data-newest-id"), 10) || 0;
  var pollMs = parseInt(live.getAttribute("data-poll-ms"), 10) || 2000;
  var nextUrl = live.getAttribute("data-next") || "/jobs";
  var pageQuery = live.getAttribute("data-query") || "";
  var liveInsert = live.getAttribute("data-live-insert") === "1";
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
    var wasChecked = $("input.select-job", row);
    if (wasChecked && wasChecked.checked) { $("input.select-job", fresh).checked = true; }
    row.replaceWith(fresh);
    fresh.classList.add("flash-row");
    if (focusKey) {
      var again = $("form[action='" + focusKey + "'] button", fresh) || $("a[href='" + focusKey + "']", fresh) || $("a", fresh);
      if (again) { again.focus(); }
    }
  }

  function insertNew(items) {
    // Newest first from the server: insert the oldest first, each at the top.
    var body = $("#jobs-table tbody");
    if (!body || !items.length) { return; }
    items.slice().reverse().forEach(function (item) {
      if (document.getElementById("job-" + item.id)) { return; }
      var fresh = rowFrom(item.row_html);
      fresh.classList.add("flash-row");
      body.insertBefore(fresh, body.firstChild);
    });
    var wrap = $("#jobs-wrap"), empty = $("#jobs-empty");
    if (wrap) { wrap.hidden = false; }
    if (empty) { empty.hidden = true; }
    if (bulkForm) {
      bulkForm.hidden = false;
      var total = (parseInt(bulkForm.getAttribute("data-total"), 10) || 0) + items.length;
      bulkForm.setAttribute("data-total", String(total));
      updateBulk();
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
      "&next=" + encodeURIComponent(nextUrl) + "&after=" + newestId + (pageQuery ? "&" + pageQuery : "");
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
        setTitle((data.counts || {})["IN PROCESS"] || 0);
        if (liveInsert) {
          insertNew(data.new_jobs || []);
          newestId = Math.max(newestId, data.newest_id);  // what the filter hides is not "new" here
        } else if (data.newest_id > newestId) {
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
