// JobView front end (after common.js): renders the job's traits, ticks elapsed time locally and
// sends intents as custom messages. Text goes in via textContent only.
const DONE = ["succeeded", "partial", "failed", "cancelled", "timed_out", "error"];
const LABEL = { timed_out: "timed out", partial: "partly succeeded" };
// Final for the client, but a timed-out take may still run on the server: it can be cancelled.
const SETTLED = ["succeeded", "failed", "cancelled", "downloading"];
const MUTE_IN_VSCODE = ["aac", "opus"]; // VS Code's Electron has no decoder for these
// VS Code's notebook webview marks its body with the theme's kind.
const inVsCode = () => "vscodeThemeKind" in document.body.dataset;

// The Jupyter server's files/ URL of a path under its root, or null (no server page, VS Code).
function filesUrl(path) {
  const config = document.getElementById("jupyter-config-data");
  if (!path || !config || inVsCode()) return null;
  const base = (JSON.parse(config.textContent).baseUrl || "/").replace(/\/?$/, "/");
  return new URL(base + "files/" + path.split("/").map(encodeURIComponent).join("/"),
    location.href).href;
}

function clockText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

// Beside a running take's elapsed time: the time left by the ledger's typical duration for this
// model and length (`typical_seconds`), ticking in the browser; as kling_nb.takes.eta_text.
function etaText(typical, elapsed) {
  if (typeof typical !== "number") return "no estimate yet";
  const left = Math.round(typical - elapsed);
  if (left < 1) return "any moment now";
  const m = Math.floor(left / 60);
  return m ? `about ${m}m ${String(left % 60).padStart(2, "0")}s left` : `about ${left}s left`;
}

function sizeText(n) {
  if (typeof n !== "number") return "";
  return n >= 100000 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1000)} KB`;
}

// Chunk requests open per take: enough to keep the kernel, server and browser busy at once.
const CHUNKS_IN_FLIGHT = 4;

// Files fetched from the kernel, per take and original/copy, shared by the model's views (a view
// rendered anew when the job ends takes over). One Blob of all chunks' buffers, made at the end,
// concatenates nothing; a Blob per chunk measured slower.
function kernelFiles(model) {
  const files = new Map();
  function start(index, which) {
    const id = Math.random().toString(36).slice(2);
    const t = { got: 0, size: 0, url: "", error: "", watchers: new Set() };
    const parts = new Map(); // offset to the chunk's buffers
    let next = 0, step = 0, out = 0;
    const ask = () => {
      model.send({ kind: "chunk", index, which, offset: next, id });
      next += step;
      out += 1;
    };
    const notify = () => {
      t.watchers.forEach((w) => w(t));
      if (t.url || t.error) t.watchers.clear(); // the last news
    };
    t.receive = (msg, buffers) => {
      if (msg.id !== id) return; // an earlier transfer's reply
      out -= 1;
      if (msg.error) {
        files.delete(`${index}:${which}`); // a later view may try again
        t.error = msg.error;
        return notify();
      }
      const length = buffers.reduce((n, b) => n + b.byteLength, 0);
      parts.set(msg.offset, buffers);
      t.got += length;
      t.size = msg.size;
      if (!step) [step, next] = [length, length];
      if (t.got < t.size && length) {
        while (out < CHUNKS_IN_FLIGHT && next < t.size) ask();
      } else {
        const all = [...parts.keys()].sort((a, b) => a - b).flatMap((o) => parts.get(o));
        t.url = URL.createObjectURL(new Blob(all, { type: msg.mime }));
        parts.clear();
      }
      notify();
    };
    ask(); // the reply gives the chunk size, then the window fills
    return t;
  }
  const onMessage = (msg, buffers) => {
    if (msg?.kind === "chunk") files.get(`${msg.index}:${msg.which}`)?.receive(msg, buffers || []);
  };
  model.on("msg:custom", onMessage);
  return {
    // Calls fn with the transfer {got, size, url, error} now and as it goes; returns unwatch.
    watch(index, which, fn) {
      const key = `${index}:${which}`;
      if (!files.has(key)) files.set(key, start(index, which));
      const t = files.get(key);
      t.watchers.add(fn);
      fn(t);
      return () => t.watchers.delete(fn);
    },
    dispose() {
      model.off("msg:custom", onMessage);
      for (const t of files.values()) if (t.url) URL.revokeObjectURL(t.url);
    },
  };
}

// Plays a file from its files/ URL if that gives metadata within 4 s, else from the kernel.
function player(files, index, video, hint, fail) {
  let attempt = 0, timer = 0, unwatch = () => {};
  function viaKernel(which) {
    attempt += 1;
    clearTimeout(timer);
    video.onloadedmetadata = video.onerror = null;
    unwatch();
    unwatch = files.watch(index, which, (t) => {
      if (t.error) return fail(t.error);
      hint.hidden = Boolean(t.url);
      const done = t.size ? `: ${sizeText(t.got)} of ${sizeText(t.size)}` : "…";
      hint.textContent = `Loading from the kernel${done}`;
      if (!t.url) return;
      Object.assign(video.dataset, { source: "kernel", which });
      video.src = t.url;
    });
  }
  return {
    play(file, which) {
      const src = filesUrl(file.url_path);
      if (!src) return viaKernel(which);
      const mine = ++attempt;
      const fallback = () => mine === attempt && viaKernel(which);
      video.onloadedmetadata = () => {
        clearTimeout(timer);
        video.onerror = null;
      };
      video.onerror = fallback;
      timer = setTimeout(fallback, 4000);
      // What the src is (readyState says whether it loaded): the file or its copy, and from where.
      Object.assign(video.dataset, { source: "file", which });
      video.src = src;
    },
    dispose() {
      clearTimeout(timer);
      unwatch();
    },
  };
}

function card(model, files, index, offset) {
  const root = h("div", "kling-gen");
  root.dataset.index = String(index);
  const head = h("div", "kling-gen-head");
  const status = h("span", "kling-status");
  const elapsed = h("span", "kling-elapsed");
  const cancel = button("Cancel", `Cancel take ${index + 1}`, () =>
    model.send({ kind: "cancel", index }));
  head.append(h("span", "kling-gen-title", `Take ${index + 1}`), status, elapsed, cancel);
  const error = h("div", "kling-error");
  error.setAttribute("role", "alert");
  const video = h("video", "kling-video");
  video.controls = video.playsInline = video.hidden = true;
  video.setAttribute("aria-label", `Take ${index + 1} video`);
  const facts = h("div", "kling-facts");
  const hint = h("div", "kling-hint");
  const sound = h("div", "kling-hint");
  const mp3 = button("Copy with MP3 sound", `Make a copy of take ${index + 1} with MP3 sound ` +
    "(VS Code cannot play AAC)", () => wantCopy());
  root.append(head, error, video, hint, sound, mp3, facts);
  const source = player(files, index, video, hint, (text) => {
    hint.hidden = true;
    error.hidden = false;
    error.textContent = text;
  });
  let playing = ""; // "original" or "copy"
  let asked = false; // for the copy
  let g = {};
  function wantCopy() {
    asked = mp3.disabled = true;
    if (g.copy) show();
    else model.send({ kind: "copy", index });
  }
  function show() {
    const which = asked && g.copy ? "copy" : "original";
    if (which !== playing) source.play(which === "copy" ? g.copy : g, (playing = which));
  }
  return {
    root,
    update(next) {
      g = next;
      root.dataset.status = status.dataset.status = g.status;
      status.textContent = LABEL[g.status] || g.status;
      error.textContent = g.error || "";
      error.hidden = !g.error;
      cancel.hidden = SETTLED.includes(g.status) || !model.get("can_cancel_one") || !g.id;
      const mute = MUTE_IN_VSCODE.includes(g.audio);
      const vscode = mute && inVsCode();
      if (g.path) {
        video.hidden = false;
        const bits = [g.duration ? `${g.duration.toFixed(1)} s` : "", sizeText(g.size)];
        const path = h("span", "kling-path", g.path); // one line: an id never breaks mid-way
        path.title = g.path;
        facts.replaceChildren(bits.filter(Boolean).join(" · ") + " · ", path);
        facts.title = `sha256 ${g.sha256}`;
        if (vscode && !asked) wantCopy();
        show();
      } else facts.textContent = g.id ? `generation ${g.id}` : "";
      mp3.hidden = !g.path || !mute || playing === "copy";
      const why = vscode ? `VS Code cannot play ${g.audio.toUpperCase()} sound: ` : "";
      sound.textContent = playing === "copy" ? `${why}playing ${g.copy.path}, with MP3 sound.`
        : why && `${why}making a copy with MP3 sound…`;
      this.tick();
    },
    tick() {
      const start = g.started_at || g.enqueued_at || model.get("created_at");
      if (!start) return (elapsed.textContent = "");
      const end = g.completed_at || (DONE.includes(g.status) ? start : Date.now() / 1000 - offset());
      const running = !g.completed_at && !DONE.includes(g.status);
      const eta = running ? ` · ${etaText(model.get("typical_seconds"), end - start)}` : "";
      elapsed.textContent = clockText(end - start) + eta;
    },
    dispose: source.dispose,
  };
}

function render({ model, el }, files) {
  let offset = 0; // browser clock minus kernel clock, so elapsed time survives clock skew
  const root = h("div", "kling-root kling-job");
  const head = h("div", "kling-head");
  const modelName = h("span", "kling-model");
  const cost = h("span", "kling-cost");
  const badges = h("span");
  head.append(h("span", "kling-brand", "Kling"), modelName, cost, badges);
  const summary = h("div", "kling-summary");
  const line = h("div", "kling-line");
  const status = h("span", "kling-status kling-job-status");
  status.setAttribute("aria-live", "polite");
  const elapsed = h("span", "kling-elapsed");
  const cancelAll = button("Cancel all", "Cancel all takes of this job", () =>
    model.send({ kind: "cancel" }));
  line.append(status, elapsed, cancelAll);
  const error = h("div", "kling-error");
  error.setAttribute("role", "alert");
  const notice = h("div", "kling-notice");
  const grid = h("div", "kling-grid");
  const exportsBox = exportsPanel("Copy request");
  exportsBox.update(model.get("exports"));
  root.append(head, summary, line, error, notice, grid, exportsBox.box);
  el.append(root);
  const cards = new Map();

  function tick() {
    const start = model.get("created_at");
    const end = model.get("finished_at") || Date.now() / 1000 - offset;
    elapsed.textContent = start ? clockText(end - start) : "";
    for (const c of cards.values()) c.tick();
  }
  function update() {
    offset = Date.now() / 1000 - (model.get("clock") || Date.now() / 1000);
    const s = model.get("status");
    root.dataset.status = status.dataset.status = s;
    status.textContent = LABEL[s] || s;
    modelName.textContent = model.get("model");
    cost.textContent = model.get("cost");
    summary.textContent = model.get("summary");
    badges.replaceChildren();
    for (const b of ["replayed", "simulated"]) {
      if (model.get(b)) badges.append(h("span", `kling-badge kling-badge-${b}`, b));
    }
    error.textContent = model.get("error");
    error.hidden = !model.get("error");
    notice.textContent = model.get("notice");
    const gens = model.get("generations") || [];
    const timedOut = s !== "error" && gens.some((g) => g.status === "timed_out");
    cancelAll.hidden = DONE.includes(s) && !timedOut;
    for (const g of gens) {
      if (!cards.has(g.index)) {
        cards.set(g.index, card(model, files, g.index, () => offset));
        grid.append(cards.get(g.index).root);
      }
      cards.get(g.index).update(g);
    }
    tick();
  }
  const names = ["status", "generations", "error", "notice", "finished_at", "replayed",
    "simulated", "cost", "clock"];
  for (const n of names) model.on(`change:${n}`, update);
  update();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    for (const n of names) model.off(`change:${n}`, update);
    for (const c of cards.values()) c.dispose();
  };
}

// Once per model (see job_loader.js): its kernel files, and the render of each of its views.
function initialize({ model }) {
  const files = kernelFiles(model);
  return { render: (view) => render(view, files), dispose: files.dispose };
}

export default { initialize };
