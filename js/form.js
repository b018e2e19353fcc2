// RequestForm front end (after common.js): edits a draft (sent whole as the `draft` trait); Python validates it and
// answers with `errors`, `cost` and `exports`. Text goes in via textContent; image previews only
// for http(s) URLs and local files (picker.js).
const MAX_PROMPT = 512;
let uid = 0;

function httpUrl(text) {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

function render({ model, el }) {
  let draft = structuredClone(model.get("draft") || {});
  let seq = draft.seq || 0;
  let timer = null;
  let slots = new Map(); // error path -> {msg, input}
  const root = h("div", "kling-root kling-form");
  const body = h("div");
  const general = h("div", "kling-msg kling-general");
  general.setAttribute("role", "alert");
  const cost = h("span", "kling-cost");
  const submit = button("Submit", "Submit the request", () => {
    submit.disabled = true;
    model.send({ kind: "submit" });
  }, "kling-btn kling-primary");
  const notice = h("div", "kling-notice");
  notice.setAttribute("role", "status");
  const exportsBox = exportsPanel("Export: %%kling, Python, cURL");
  const row = h("div", "kling-submit-row");
  row.append(submit, cost);
  root.append(body, general, row, notice, exportsBox.box);
  el.append(root);

  const spec = () => (model.get("models") || []).find((m) => m.id === draft.model || m.alias === draft.model)
    || (model.get("models") || [])[0] || { params: [], extra: [], durations: [], aspect_ratios: [] };
  const takes = (p) => spec().params.includes(p);

  function send() {
    clearTimeout(timer);
    timer = setTimeout(() => {
      model.set("draft", { ...structuredClone(draft), seq });
      model.save_changes();
    }, 120);
  }
  function changed() {
    seq += 1;
    refreshSubmit();
    send();
  }

  function field(path, labelText, input, hint, inline = false) {
    const wrap = h("div", inline ? "kling-field kling-check" : "kling-field");
    const id = `kling-${++uid}`;
    input.id = id;
    input.dataset.key = path;
    const label = h("label", "", labelText);
    label.htmlFor = id;
    const msg = h("div", "kling-msg");
    msg.id = `${id}-msg`;
    input.setAttribute("aria-describedby", msg.id);
    if (inline) wrap.append(input, label);
    else wrap.append(label, input);
    if (hint) wrap.append(h("div", "kling-hint", hint));
    wrap.append(msg);
    slots.set(path, { msg, input });
    return wrap;
  }
  function text(path, get, set, labelText, opts = {}) {
    const input = h(opts.multiline ? "textarea" : "input");
    if (!opts.multiline) input.type = opts.type || "text";
    if (opts.placeholder) input.placeholder = opts.placeholder;
    input.value = get() ?? "";
    const wrap = field(path, labelText, input, opts.hint);
    let counter = null;
    if (opts.counter) {
      counter = h("div", "kling-counter");
      counter.setAttribute("aria-live", "polite");
      wrap.insertBefore(counter, input.nextSibling);
    }
    const count = () => {
      if (!counter) return;
      const n = [...input.value].length;
      counter.textContent = `${n} / ${MAX_PROMPT}`;
      counter.classList.toggle("over", n > MAX_PROMPT);
    };
    count();
    input.addEventListener("input", () => {
      set(input.value);
      count();
      if (opts.onInput) opts.onInput(input.value);
      changed();
    });
    return wrap;
  }
  function select(path, labelText, options, get, set, rebuild) {
    const input = h("select");
    for (const [value, name] of options) {
      const o = h("option", "", name);
      o.value = String(value);
      input.append(o);
    }
    input.value = String(get() ?? "");
    if (input.value !== String(get() ?? "") && options.length) {
      set(input.value); // e.g. a duration the newly picked model does not offer
      queueMicrotask(changed);
    }
    input.addEventListener("change", () => {
      set(input.value);
      changed();
      if (rebuild) build();
    });
    return field(path, labelText, input);
  }
  function check(path, labelText, get, set) {
    const input = h("input");
    input.type = "checkbox";
    input.checked = Boolean(get());
    input.addEventListener("change", () => {
      set(input.checked);
      changed();
    });
    return field(path, labelText, input, undefined, true);
  }
  function thumb(url) {
    const img = h("img", "kling-thumb");
    img.alt = "preview";
    img.addEventListener("error", () => (img.hidden = true));
    const set = (u) => {
      const ok = httpUrl(u.trim()) || localPreview(model, u.trim(), () => set(u));
      img.hidden = !ok;
      if (ok) img.src = ok;
      else img.removeAttribute("src");
    };
    set(url || "");
    return { img, set };
  }
  function urlRow(path, labelText, list, i, onRemove) {
    const t = thumb(list[i]);
    const wrap = text(path, () => list[i], (v) => (list[i] = v), labelText,
      { type: "url", placeholder: "https://…", onInput: t.set });
    const line = h("div", "kling-url-row");
    line.append(t.img, filePicker(model, wrap, labelText, (token) => {
      const input = wrap.querySelector("input");
      input.value = token;
      input.dispatchEvent(new Event("input"));
    }));
    if (onRemove) line.append(button("Remove", `Remove ${labelText}`, onRemove));
    wrap.append(line);
    return wrap;
  }

  function promptSection() {
    const box = h("div");
    const s = spec();
    if (s.params.includes("multi_prompt")) {
      const modes = [["single", "Single prompt"], ["shots", "Shots"]];
      box.append(select("mode", "Prompt mode", modes, () => draft.mode, (v) => {
        draft.mode = v;
        if (v === "shots" && !draft.multi_prompt.length) {
          draft.multi_prompt = [{ prompt: draft.prompt || "", duration: Number(draft.duration) || spec().default_duration || 5 }];
        }
      }, true));
    }
    if (draft.mode === "shots" && s.params.includes("multi_prompt")) box.append(shotsSection());
    else {
      box.append(text("prompt", () => draft.prompt, (v) => (draft.prompt = v), "Prompt",
        { multiline: true, counter: true, hint: "Refer to reference images as @Image1, elements as @Element1." }));
      if (takes("duration") && s.durations.length) {
        const choices = [["", `model default (${s.default_duration} s)`], ...s.durations.map((d) => [d, `${d} s`])];
        box.append(select("duration", "Duration (seconds)", choices,
          () => draft.duration, (v) => (draft.duration = v === "" ? "" : Number(v))));
      }
    }
    return box;
  }
  function shotsSection() {
    const set = h("fieldset");
    set.append(h("legend", "", "Shots"));
    const shots = draft.multi_prompt;
    const s = spec();
    const bar = h("div", "kling-bar");
    const fill = h("div", "kling-bar-fill");
    const win = h("div", "kling-bar-window");
    bar.append(fill, win);
    bar.setAttribute("role", "img");
    const total = h("div", "kling-hint");
    const updateBar = () => {
      const sum = shots.reduce((a, x) => a + (Number(x.duration) || 0), 0);
      const lo = s.min_total ?? 0;
      const hi = s.max_total ?? Math.max(sum, 15);
      const scale = Math.max(hi, sum, 1);
      fill.style.width = `${(100 * sum) / scale}%`;
      fill.classList.toggle("bad", sum < lo || sum > hi);
      win.style.left = `${(100 * lo) / scale}%`;
      win.style.width = `${(100 * (hi - lo)) / scale}%`;
      total.textContent = `Total ${sum} s (allowed ${lo}–${hi} s)`;
      bar.setAttribute("aria-label", total.textContent);
    };
    shots.forEach((shot, i) => {
      const box = h("div", "kling-shot");
      box.append(text(`multi_prompt.${i}.prompt`, () => shot.prompt, (v) => (shot.prompt = v),
        `Shot ${i + 1} prompt`, { multiline: true, counter: true }));
      const dur = h("input");
      dur.type = "number";
      dur.min = "1";
      dur.max = "15";
      dur.value = String(shot.duration ?? 5);
      dur.addEventListener("input", () => {
        shot.duration = dur.value === "" ? "" : Number(dur.value);
        updateBar();
        changed();
      });
      const line = h("div", "kling-row");
      line.append(field(`multi_prompt.${i}.duration`, `Shot ${i + 1} duration (s)`, dur));
      const move = (j) => () => {
        [shots[i], shots[j]] = [shots[j], shots[i]];
        changed();
        build(`move-${j}-${j < i ? "up" : "down"}`);
      };
      const up = button("↑", `Move shot ${i + 1} up`, move(i - 1));
      up.disabled = i === 0;
      up.dataset.key = `move-${i}-up`;
      const down = button("↓", `Move shot ${i + 1} down`, move(i + 1));
      down.disabled = i === shots.length - 1;
      down.dataset.key = `move-${i}-down`;
      const rm = button("Remove", `Remove shot ${i + 1}`, () => {
        shots.splice(i, 1);
        changed();
        build();
      });
      line.append(up, down, rm);
      box.append(line);
      set.append(box);
    });
    const add = button("Add shot", "Add a shot", () => {
      shots.push({ prompt: "", duration: 5 });
      changed();
      build(`multi_prompt.${shots.length - 1}.prompt`);
    });
    const msg = h("div", "kling-msg");
    slots.set("multi_prompt", { msg, input: null });
    updateBar();
    set.append(add, total, bar, msg);
    return set;
  }
  function referencesSection() {
    const s = spec();
    const set = h("fieldset");
    set.append(h("legend", "", "References"));
    if (s.max_references) set.append(h("div", "kling-hint", `Up to ${s.max_references} images in all.`));
    if (takes("input_image")) {
      const images = draft.input_image;
      images.forEach((_, i) => set.append(urlRow(`input_image.${i}`, `Image ${i + 1} URL (@Image${i + 1})`,
        images, i, () => { images.splice(i, 1); changed(); build(); })));
      if (!(s.single_input_image && images.length >= 1)) {
        set.append(button("Add image", "Add an input image", () => {
          images.push("");
          changed();
          build(`input_image.${images.length - 1}`);
        }));
      }
      const msg = h("div", "kling-msg");
      slots.set("input_image", { msg, input: null });
      set.append(msg);
    }
    if (takes("elements")) {
      draft.elements.forEach((e, i) => {
        const box = h("fieldset");
        box.append(h("legend", "", `Element ${i + 1} (@Element${i + 1})`));
        const front = [e.frontal_image_url];
        box.append(urlRow(`elements.${i}.frontal_image_url`, `Element ${i + 1} frontal image URL`, front, 0));
        box.lastChild.querySelector("input").addEventListener("input", () => (e.frontal_image_url = front[0]));
        const refs = e.reference_image_urls;
        refs.forEach((_, j) => box.append(urlRow(`elements.${i}.reference_image_urls.${j}`,
          `Element ${i + 1} reference ${j + 1} URL`, refs, j, () => { refs.splice(j, 1); changed(); build(); })));
        if (refs.length < 3) {
          box.append(button("Add reference", `Add a reference image to element ${i + 1}`, () => {
            refs.push("");
            changed();
            build(`elements.${i}.reference_image_urls.${refs.length - 1}`);
          }));
        }
        box.append(button("Remove element", `Remove element ${i + 1}`, () => {
          draft.elements.splice(i, 1);
          changed();
          build();
        }));
        const msg = h("div", "kling-msg");
        slots.set(`elements.${i}`, { msg, input: null });
        box.append(msg);
        set.append(box);
      });
      set.append(button("Add element", "Add an element", () => {
        draft.elements.push({ frontal_image_url: "", reference_image_urls: [] });
        changed();
        build(`elements.${draft.elements.length - 1}.frontal_image_url`);
      }));
      const msg = h("div", "kling-msg");
      slots.set("elements", { msg, input: null });
      set.append(msg);
    }
    for (const [key, name] of [["start_image_url", "Start frame URL"], ["tail_image_url", "End frame URL"]]) {
      if (takes(key)) {
        const holder = [draft[key]];
        set.append(urlRow(key, name, holder, 0));
        set.lastChild.querySelector("input").addEventListener("input", () => (draft[key] = holder[0]));
      }
    }
    return set.childElementCount > 1 ? set : h("div");
  }
  function optionsSection() {
    const s = spec();
    const box = h("div", "kling-cols");
    if (takes("aspect_ratio")) {
      box.append(select("aspect_ratio", "Aspect ratio",
        [["", "model default"], ...s.aspect_ratios.map((r) => [r, r])],
        () => draft.aspect_ratio, (v) => (draft.aspect_ratio = v)));
    }
    box.append(select("num_generations", "Takes", [1, 2, 3, 4].map((n) => [n, String(n)]),
      () => draft.num_generations, (v) => (draft.num_generations = Number(v))));
    if (takes("generate_audio")) {
      box.append(check("generate_audio", "Generate audio", () => draft.generate_audio,
        (v) => (draft.generate_audio = v)));
    }
    const wide = h("div");
    if (takes("negative_prompt")) {
      wide.append(text("negative_prompt", () => draft.negative_prompt, (v) => (draft.negative_prompt = v),
        "Negative prompt", { placeholder: s.default_negative_prompt }));
    }
    draft.extra = draft.extra || {};
    for (const name of s.extra) {
      if (name.startsWith("keep_")) {
        box.append(check(name, name.replaceAll("_", " "), () => draft.extra[name], (v) => (draft.extra[name] = v)));
      } else {
        wide.append(text(name, () => draft.extra[name], (v) => (draft.extra[name] = v), name.replaceAll("_", " ")));
      }
    }
    const frag = h("div");
    frag.append(box, wide);
    return frag;
  }

  function build(focusKey) {
    const active = focusKey || document.activeElement?.dataset?.key;
    slots = new Map();
    slots.set("", { msg: general, input: null });
    const models = model.get("models") || [];
    const head = h("div", "kling-head");
    head.append(h("span", "kling-brand", "Kling request"));
    body.replaceChildren(head);
    body.append(select("model", "Model", models.map((m) => [m.id, `${m.name} (${m.alias})`]),
      () => spec().id, (v) => (draft.model = v), true));
    body.append(h("div", "kling-hint", spec().description || ""));
    body.append(promptSection(), referencesSection(), optionsSection());
    showErrors();
    if (active) root.querySelector(`[data-key="${CSS.escape(active)}"]`)?.focus();
  }

  function slotFor(path) {
    const parts = path.split(".");
    while (parts.length) {
      const key = parts.join(".");
      if (slots.has(key)) return slots.get(key);
      parts.pop();
    }
    return slots.get("");
  }
  function showErrors() {
    for (const { msg, input } of slots.values()) {
      msg.textContent = "";
      input?.removeAttribute("aria-invalid");
    }
    const errors = model.get("errors") || {};
    for (const [path, messages] of Object.entries(errors)) {
      const slot = slotFor(path);
      const line = messages.join(" ");
      slot.msg.textContent = slot.msg.textContent ? `${slot.msg.textContent} ${line}` : line;
      slot.input?.setAttribute("aria-invalid", "true");
    }
    refreshSubmit();
  }
  function refreshSubmit() {
    const ready = model.get("valid") && model.get("validated_seq") === seq;
    submit.disabled = !ready;
    cost.textContent = model.get("cost") ? `Estimated cost: ${model.get("cost")}` : "";
    notice.textContent = model.get("notice") || "";
  }
  const showExports = () => exportsBox.update(model.get("exports"));

  const onErrors = () => showErrors();
  const onState = () => refreshSubmit();
  model.on("change:errors", onErrors);
  model.on("change:validated_seq", onState);
  model.on("change:valid", onState);
  model.on("change:cost", onState);
  model.on("change:notice", onState);
  model.on("change:submitted", onState);
  model.on("change:exports", showExports);
  build();
  showExports();
  return () => {
    clearTimeout(timer);
    model.off("change:errors", onErrors);
    for (const n of ["validated_seq", "valid", "cost", "notice", "submitted"]) model.off(`change:${n}`, onState);
    model.off("change:exports", showExports);
  };
}

export default { render };
