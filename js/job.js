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

// Plays a file from its files/ URL if that gives metadata within 4 s, else from the kernel in
// chunks with progress: two asked for at a time, so transfers overlap while the kernel holds at
// most two (the chunk size is the kernel's).
function player(model, index, video, hint, fail) {
  let attempt = 0, timer = 0, url = null, f = null;
  const ask = () => {
    model.send({ kind: "chunk", index, which: f.which, offset: f.next, id: f.id });
    f.next += f.step;
    f.out += 1;
  };
  function viaKernel(which) {
    attempt += 1;
    clearTimeout(timer);
    video.onloadedmetadata = video.onerror = null;
    f = { id: Math.random().toString(36), which, parts: [], got: 0, size: 0, next: 0, step: 0,
      out: 0 };
    hint.textContent = "Loading from the kernel…";
    hint.hidden = false;
    ask();
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
    chunk(msg, buffers) {
      if (!f || msg.id !== f.id) return; // another view's reply
      if (msg.error) {
        f = null;
        return fail(msg.error);
      }
      const length = buffers.reduce((n, b) => n + b.byteLength, 0);
      f.parts.push(...buffers);
      f.got += length;
      f.size = msg.size;
      f.out -= 1;
      if (!f.step) [f.step, f.next] = [length, f.got];
      if (f.got < f.size && length) {
        hint.textContent = `Loading from the kernel: ${sizeText(f.got)} of ${sizeText(f.size)}`;
        while (f.out < 2 && f.next < f.size) ask();
        return;
      }
      hint.hidden = true;
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob(f.parts, { type: msg.mime }));
      Object.assign(video.dataset, { source: "kernel", which: f.which });
      f = null;
      video.src = url;
    },
    dispose() {
      clearTimeout(timer);
      if (url) URL.revokeObjectURL(url);
    },
  };
}

function card(model, index, offset) {
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
  const source = player(model, index, video, hint, (text) => {
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
    chunk: source.chunk,
    dispose: source.dispose,
  };
}

function render({ model, el }) {
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
        cards.set(g.index, card(model, g.index, () => offset));
        grid.append(cards.get(g.index).root);
      }
      cards.get(g.index).update(g);
    }
    tick();
  }
  const onMessage = (msg, buffers) => msg?.kind === "chunk" && cards.get(msg.index)
    ?.chunk(msg, buffers || []);
  const names = ["status", "generations", "error", "notice", "finished_at", "replayed",
    "simulated", "cost", "clock"];
  for (const n of names) model.on(`change:${n}`, update);
  model.on("msg:custom", onMessage);
  update();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    for (const n of names) model.off(`change:${n}`, update);
    model.off("msg:custom", onMessage);
    for (const c of cards.values()) c.dispose();
  };
}

export default { render };
