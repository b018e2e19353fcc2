// RequestForm front end (after common.js, picker.js and inputs.js): edits a draft (sent whole as
// the `draft` trait); Python validates it and answers with `errors`, `cost` and `exports`; the
// rules' numbers come in `limits`. Each section is built by a small function from a shared
// context `ctx`. Errors are shown only for fields the user touched, or for all once Submit was
// tried. Text goes in via textContent; image previews only for http(s) URLs and local files
// (picker.js).

// -- sections ----------------------------------------------------------------------------------

function modelSection(ctx) {
  const models = ctx.model.get("models") || [];
  const box = h("div");
  box.append(selectInput(ctx, "model", "Model", models.map((m) => [m.id, `${m.name} (${m.alias})`]),
    () => ctx.spec().id, (v) => (ctx.draft.model = v), true));
  box.append(h("div", "kling-hint", ctx.spec().description || ""));
  return box;
}

function promptSection(ctx) {
  const { draft } = ctx;
  const s = ctx.spec();
  const box = h("div");
  if (s.params.includes("multi_prompt")) {
    const modes = [["single", "Single prompt"], ["shots", "Shots"]];
    box.append(selectInput(ctx, "mode", "Prompt mode", modes, () => draft.mode, (v) => {
      draft.mode = v;
      if (v === "shots" && !draft.multi_prompt.length) {
        const seconds = Number(draft.duration) || s.default_duration || 5;
        draft.multi_prompt = [{ prompt: draft.prompt || "", duration: seconds }];
      }
    }, true));
  }
  if (draft.mode === "shots" && s.params.includes("multi_prompt")) {
    box.append(shotsSection(ctx));
    return box;
  }
  box.append(textInput(ctx, "prompt", () => draft.prompt, (v) => (draft.prompt = v), "Prompt",
    { multiline: true, counter: true, hint: "Refer to reference images as @Image1, elements as @Element1." }));
  if (ctx.takes("duration") && s.durations.length) {
    const choices = [["", `Model default (${s.default_duration} s)`], ...s.durations.map((d) => [d, `${d} s`])];
    box.append(selectInput(ctx, "duration", "Duration (seconds)", choices,
      () => draft.duration, (v) => (draft.duration = v === "" ? "" : Number(v))));
  }
  return box;
}

function totalBar(ctx, shots) {
  const s = ctx.spec();
  const bar = h("div", "kling-bar");
  const fill = h("div", "kling-bar-fill");
  const win = h("div", "kling-bar-window");
  bar.append(fill, win);
  bar.setAttribute("role", "img");
  const total = h("div", "kling-hint");
  const update = () => {
    const sum = shots.reduce((a, x) => a + (Number(x.duration) || 0), 0);
    const lo = s.min_total ?? 0;
    const hi = s.max_total ?? Math.max(sum, ctx.limits.shot_seconds[1]);
    const scale = Math.max(hi, sum, 1);
    fill.style.width = `${(100 * sum) / scale}%`;
    fill.classList.toggle("bad", sum < lo || sum > hi);
    win.style.left = `${(100 * lo) / scale}%`;
    win.style.width = `${(100 * (hi - lo)) / scale}%`;
    total.textContent = `Total ${sum} s (allowed ${lo}–${hi} s)`;
    bar.setAttribute("aria-label", total.textContent);
  };
  update();
  return { bar, total, update };
}

function shotRow(ctx, shots, i, bar) {
  const shot = shots[i];
  const box = h("div", "kling-shot");
  box.append(textInput(ctx, `multi_prompt.${i}.prompt`, () => shot.prompt, (v) => (shot.prompt = v),
    `Shot ${i + 1} prompt`, { multiline: true, counter: true }));
  const [low, high] = ctx.limits.shot_seconds;
  const dur = h("input");
  dur.type = "number";
  dur.min = String(low);
  dur.max = String(high);
  dur.value = String(shot.duration ?? 5);
  const path = `multi_prompt.${i}.duration`;
  dur.addEventListener("input", () => {
    shot.duration = dur.value === "" ? "" : Number(dur.value);
    bar.update();
    ctx.changed(path);
  });
  const line = h("div", "kling-row");
  line.append(field(ctx, path, `Shot ${i + 1} duration (seconds)`, dur));
  const move = (j) => () => {
    [shots[i], shots[j]] = [shots[j], shots[i]];
    ctx.changed();
    ctx.build(`move-${j}-${j < i ? "up" : "down"}`);
  };
  const up = button("↑", `Move shot ${i + 1} up`, move(i - 1));
  up.disabled = i === 0;
  up.dataset.key = `move-${i}-up`;
  const down = button("↓", `Move shot ${i + 1} down`, move(i + 1));
  down.disabled = i === shots.length - 1;
  down.dataset.key = `move-${i}-down`;
  const rm = button("Remove", `Remove shot ${i + 1}`, () => {
    shots.splice(i, 1);
    ctx.changed("multi_prompt");
    ctx.build();
  });
  line.append(up, down, rm);
  box.append(line);
  return box;
}

function shotsSection(ctx) {
  const set = h("fieldset");
  set.append(h("legend", "", "Shots"));
  const shots = ctx.draft.multi_prompt;
  const bar = totalBar(ctx, shots);
  shots.forEach((_, i) => set.append(shotRow(ctx, shots, i, bar)));
  const add = button("Add shot", "Add a shot", () => {
    shots.push({ prompt: "", duration: 5 });
    ctx.changed();
    ctx.build(`multi_prompt.${shots.length - 1}.prompt`);
  });
  set.append(add, bar.total, bar.bar, messageSlot(ctx, "multi_prompt"));
  return set;
}

function imagesSection(ctx, set) {
  const s = ctx.spec();
  const images = ctx.draft.input_image;
  images.forEach((_, i) => set.append(urlRow(ctx, `input_image.${i}`, `Image ${i + 1} URL (@Image${i + 1})`,
    images, i, () => { images.splice(i, 1); ctx.changed("input_image"); ctx.build(); })));
  if (!(s.single_input_image && images.length >= 1)) {
    set.append(button("Add image", "Add an input image", () => {
      images.push("");
      ctx.changed();
      ctx.build(`input_image.${images.length - 1}`);
    }));
  }
  set.append(messageSlot(ctx, "input_image"));
}

function elementBox(ctx, e, i) {
  const box = h("fieldset");
  box.append(h("legend", "", `Element ${i + 1} (@Element${i + 1})`));
  const front = [e.frontal_image_url];
  box.append(urlRow(ctx, `elements.${i}.frontal_image_url`, `Element ${i + 1} frontal image URL`, front, 0));
  box.lastChild.querySelector("input").addEventListener("input", () => (e.frontal_image_url = front[0]));
  const refs = e.reference_image_urls;
  refs.forEach((_, j) => box.append(urlRow(ctx, `elements.${i}.reference_image_urls.${j}`,
    `Element ${i + 1} reference ${j + 1} URL`, refs, j,
    () => { refs.splice(j, 1); ctx.changed(`elements.${i}`); ctx.build(); })));
  if (refs.length < ctx.limits.element_references) {
    box.append(button("Add reference", `Add a reference image to element ${i + 1}`, () => {
      refs.push("");
      ctx.changed();
      ctx.build(`elements.${i}.reference_image_urls.${refs.length - 1}`);
    }));
  }
  box.append(button("Remove element", `Remove element ${i + 1}`, () => {
    ctx.draft.elements.splice(i, 1);
    ctx.changed("elements");
    ctx.build();
  }));
  box.append(messageSlot(ctx, `elements.${i}`));
  return box;
}

function elementsSection(ctx, set) {
  const elements = ctx.draft.elements;
  elements.forEach((e, i) => set.append(elementBox(ctx, e, i)));
  set.append(button("Add element", "Add an element", () => {
    elements.push({ frontal_image_url: "", reference_image_urls: [] });
    ctx.changed();
    ctx.build(`elements.${elements.length - 1}.frontal_image_url`);
  }));
  set.append(messageSlot(ctx, "elements"));
}

function framesSection(ctx, set) {
  for (const [key, name] of [["start_image_url", "Start frame URL"], ["tail_image_url", "End frame URL"]]) {
    if (!ctx.takes(key)) continue;
    const holder = [ctx.draft[key]];
    set.append(urlRow(ctx, key, name, holder, 0));
    set.lastChild.querySelector("input").addEventListener("input", () => (ctx.draft[key] = holder[0]));
  }
}

function referencesSection(ctx) {
  const s = ctx.spec();
  const set = h("fieldset");
  set.append(h("legend", "", "References"));
  if (s.max_references) set.append(h("div", "kling-hint", `Up to ${s.max_references} images in all.`));
  if (ctx.takes("input_image")) imagesSection(ctx, set);
  if (ctx.takes("elements")) elementsSection(ctx, set);
  framesSection(ctx, set);
  return set.childElementCount > 1 ? set : h("div");
}

function optionsSection(ctx) {
  const { draft } = ctx;
  const s = ctx.spec();
  const box = h("div", "kling-cols");
  if (ctx.takes("aspect_ratio")) {
    box.append(selectInput(ctx, "aspect_ratio", "Aspect ratio",
      [["", "Model default"], ...s.aspect_ratios.map((r) => [r, r])],
      () => draft.aspect_ratio, (v) => (draft.aspect_ratio = v)));
  }
  box.append(selectInput(ctx, "num_generations", "Takes", ctx.limits.takes.map((n) => [n, String(n)]),
    () => draft.num_generations, (v) => (draft.num_generations = Number(v))));
  if (ctx.takes("generate_audio")) {
    box.append(checkInput(ctx, "generate_audio", "Generate audio", () => draft.generate_audio,
      (v) => (draft.generate_audio = v)));
  }
  const wide = h("div");
  if (ctx.takes("negative_prompt")) {
    wide.append(textInput(ctx, "negative_prompt", () => draft.negative_prompt, (v) => (draft.negative_prompt = v),
      "Negative prompt", { placeholder: s.default_negative_prompt }));
  }
  draft.extra = draft.extra || {};
  for (const name of s.extra) {
    const get = () => draft.extra[name];
    const set = (v) => (draft.extra[name] = v);
    if (name.startsWith("keep_")) box.append(checkInput(ctx, name, sentenceCase(name), get, set));
    else wide.append(textInput(ctx, name, get, set, sentenceCase(name)));
  }
  const frag = h("div");
  frag.append(box, wide);
  return frag;
}

// Submit (shown disabled while the request is not ready; a click then shows every error) and
// New take (a new, billed take, sent only after its cost is shown and confirmed).
function submitSection(ctx) {
  const row = h("div", "kling-submit-row");
  const submit = button("Submit", "Submit the request", () => {
    if (ctx.sending) return;
    if (!ctx.ready()) {
      ctx.attempt();
      return;
    }
    ctx.send(false);
  }, "kling-btn kling-primary");
  const cost = h("span", "kling-cost");
  const newTake = button("New take", "Send a new, billed take of this request", () => {
    confirm.hidden = false;
    sure.textContent = `A new take is billed: ${ctx.model.get("cost")}. Send it?`;
    send.focus();
  });
  const confirm = h("div", "kling-confirm");
  confirm.hidden = true;
  const sure = h("span");
  const send = button("Send new take", "Send a new, billed take", () => {
    confirm.hidden = true;
    ctx.send(true);
  }, "kling-btn kling-primary");
  const keep = button("Cancel", "Do not send a new take", () => (confirm.hidden = true));
  confirm.append(sure, send, keep);
  row.append(submit, newTake, cost);
  return {
    nodes: [row, confirm],
    refresh(ready, costText) {
      const off = !ready || ctx.sending;
      submit.setAttribute("aria-disabled", String(off));
      submit.classList.toggle("kling-not-ready", off);
      newTake.hidden = off || !ctx.submittedOnce;
      if (!ready) confirm.hidden = true;
      cost.textContent = costText ? `Estimated cost: ${costText}` : "";
    },
  };
}

// -- the widget --------------------------------------------------------------------------------

function render({ model, el }) {
  const draft = structuredClone(model.get("draft") || {});
  let seq = draft.seq || 0;
  let timer = null;
  const touched = new Set();
  let attempted = false;
  const root = h("div", "kling-root kling-form");
  const body = h("div");
  const general = h("div", "kling-msg kling-general");
  general.setAttribute("role", "alert");
  const notice = h("div", "kling-notice");
  notice.setAttribute("role", "status");
  const exportsBox = exportsPanel("Export: %%kling, Python, cURL");

  const models = () => model.get("models") || [];
  const ctx = {
    model,
    draft,
    limits: model.get("limits"),
    slots: new Map(),
    submittedOnce: false,
    sending: false, // from a click until the kernel answers (`submitted` changes)
    spec: () => models().find((m) => m.id === draft.model || m.alias === draft.model)
      || models()[0] || { params: [], extra: [], durations: [], aspect_ratios: [] },
    takes: (p) => ctx.spec().params.includes(p),
    ready: () => model.get("valid") && model.get("validated_seq") === seq,
    changed(path) {
      if (path !== undefined) touched.add(path);
      seq += 1;
      refresh();
      clearTimeout(timer);
      timer = setTimeout(() => {
        model.set("draft", { ...structuredClone(draft), seq });
        model.save_changes();
      }, 120);
    },
    send(force) {
      ctx.sending = true;
      refresh();
      model.send({ kind: "submit", force });
    },
    attempt() {
      attempted = true;
      showErrors();
      root.querySelector("[aria-invalid='true']")?.focus();
    },
    build,
  };
  const submitRow = submitSection(ctx);
  root.append(body, general, ...submitRow.nodes, notice, exportsBox.box);
  el.append(root);

  function build(focusKey) {
    const active = focusKey || document.activeElement?.dataset?.key;
    ctx.slots = new Map([["", { msg: general, input: null }]]);
    const head = h("div", "kling-head");
    head.append(h("span", "kling-brand", "Kling request"));
    body.replaceChildren(head, modelSection(ctx), promptSection(ctx), referencesSection(ctx), optionsSection(ctx));
    showErrors();
    if (active) root.querySelector(`[data-key="${CSS.escape(active)}"]`)?.focus();
  }
  function slotFor(path) {
    const parts = path.split(".");
    while (parts.length) {
      const key = parts.join(".");
      if (ctx.slots.has(key)) return ctx.slots.get(key);
      parts.pop();
    }
    return ctx.slots.get("");
  }
  // An error shows once its field (or a field inside it, or around it) was used, or after a
  // submit was tried; a whole-request error once anything was.
  function shown(path) {
    if (attempted) return true;
    if (path === "") return touched.size > 0;
    return [...touched].some((t) => t === path || t.startsWith(`${path}.`) || path.startsWith(`${t}.`));
  }
  function showErrors() {
    for (const { msg, input } of ctx.slots.values()) {
      msg.textContent = "";
      input?.removeAttribute("aria-invalid");
    }
    for (const [path, messages] of Object.entries(model.get("errors") || {})) {
      if (!shown(path)) continue;
      const slot = slotFor(path);
      const line = messages.join(" ");
      slot.msg.textContent = slot.msg.textContent ? `${slot.msg.textContent} ${line}` : line;
      slot.input?.setAttribute("aria-invalid", "true");
    }
    refresh();
  }
  function refresh() {
    submitRow.refresh(ctx.ready(), model.get("cost"));
    notice.textContent = model.get("notice") || "";
  }
  const showExports = () => exportsBox.update(model.get("exports"));
  const onSubmitted = () => {
    ctx.submittedOnce = true;
    ctx.sending = false;
    refresh();
  };
  const names = ["validated_seq", "valid", "cost", "notice"];
  model.on("change:errors", showErrors);
  for (const n of names) model.on(`change:${n}`, refresh);
  model.on("change:submitted", onSubmitted);
  model.on("change:exports", showExports);
  build();
  showExports();
  return () => {
    clearTimeout(timer);
    model.off("change:errors", showErrors);
    for (const n of names) model.off(`change:${n}`, refresh);
    model.off("change:submitted", onSubmitted);
    model.off("change:exports", showExports);
  };
}

export default { render };
