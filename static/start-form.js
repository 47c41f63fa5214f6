// The start form of a job kind, drawn from its params model's JSON Schema (GET /api/kinds).
// The server validates; the form only turns inputs into JSON values of the right type and
// shows the server's `422` field errors next to the fields they name.

/** The schema of `schema` with a local `$ref` followed (pydantic puts enums in `$defs`). */
function resolve(schema, root) {
  if (schema && schema.$ref && schema.$ref.startsWith("#/$defs/")) {
    return { ...root.$defs[schema.$ref.slice("#/$defs/".length)], ...schema, $ref: undefined };
  }
  return schema || {};
}

/** `X | None` is `anyOf: [X, {type: "null"}]`: the field is X, and may be left empty. */
function unwrapOptional(schema, root) {
  const options = schema.anyOf || schema.oneOf;
  if (options) {
    const real = options.filter((option) => option.type !== "null");
    if (real.length === 1) {
      const { anyOf: _a, oneOf: _o, ...rest } = schema;
      return { schema: { ...resolve(real[0], root), ...rest }, nullable: real.length < options.length };
    }
  }
  return { schema: resolve(schema, root), nullable: false };
}

/** How a field is drawn and read back: "choice", "choices", "boolean", "number", "text", "json". */
export function fieldKind(schema, root) {
  if (schema.enum) return "choice";
  if (schema.type === "array" && resolve(schema.items, root).enum) return "choices";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string") return "text";
  return "json";
}

function labelText(name, schema) {
  return schema.title || name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
}

/** A new element with properties and children: the page's one DOM helper. */
export function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function numberInput(id, schema) {
  const input = el("input", { id, type: "number", step: schema.type === "integer" ? "1" : "any" });
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  if (low !== undefined) input.min = String(low);
  if (high !== undefined) input.max = String(high);
  if (schema.default !== undefined && schema.default !== null) input.value = String(schema.default);
  return input;
}

/** One field: a label, its control(s), its description and a place for its error. */
function drawField(name, rawSchema, root, required) {
  const { schema, nullable } = unwrapOptional(rawSchema, root);
  const kind = fieldKind(schema, root);
  const id = `param-${name}`;
  const error = el("p", { id: `${id}-error`, className: "field-error", hidden: true });
  const hint = el("p", { id: `${id}-hint`, className: "hint", textContent: schema.description || "" });
  const wrapper = el("div", { className: "field" });
  wrapper.dataset.param = name; wrapper.dataset.kind = kind;
  if (nullable) wrapper.dataset.nullable = "true";
  const describe = (node) => node.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
  if (kind === "choices") {
    const items = resolve(schema.items, root);
    const chosen = new Set(schema.default || []);
    const set = el("fieldset", { id }, el("legend", { textContent: labelText(name, schema) }));
    for (const value of items.enum) {
      const box = el("input", { type: "checkbox", value: String(value), checked: chosen.has(value), name });
      set.append(el("label", { className: "choice" }, box, ` ${value}`));
    }
    describe(set);
    wrapper.append(set, hint, error);
    return wrapper;
  }
  let control;
  if (kind === "choice") {
    control = el("select", { id });
    if (nullable || !required) control.add(new Option("—", ""));
    for (const value of schema.enum) control.add(new Option(String(value), String(value), false, value === schema.default));
  } else if (kind === "boolean") {
    control = el("input", { id, type: "checkbox", checked: Boolean(schema.default) });
  } else if (kind === "number") {
    control = numberInput(id, schema);
  } else if (kind === "text") {
    control = el("input", { id, type: schema.format === "date" ? "date" : "text" });
    if (schema.maxLength) control.maxLength = schema.maxLength;
    if (schema.default) control.value = schema.default;
  } else {
    control = el("textarea", { id, rows: 3, placeholder: "JSON" });
    if (schema.default !== undefined) control.value = JSON.stringify(schema.default);
  }
  control.name = name;
  if (required && kind !== "boolean") control.required = true;
  describe(control);
  wrapper.append(el("label", { htmlFor: id, textContent: labelText(name, schema) }), control, hint, error);
  return wrapper;
}

/** A form for `kind` (an entry of GET /api/kinds) with a Start button (`#start-button`). */
export function drawForm(kind) {
  const schema = kind.params_schema || {};
  const required = new Set(schema.required || []);
  const form = el("form", { id: "start-form", className: "generated" });
  for (const [name, field] of Object.entries(schema.properties || {})) {
    form.append(drawField(name, field, schema, required.has(name)));
  }
  form.append(el("div", { className: "actions" }, el("button", { id: "start-button", type: "submit", textContent: "Start" })));
  return form;
}

/** The params the form describes; a field left empty is left out (the server's default). */
export function readParams(form) {
  const params = {};
  for (const wrapper of form.querySelectorAll(".field")) {
    const name = wrapper.dataset.param;
    if (wrapper.dataset.kind === "choices") {
      params[name] = [...wrapper.querySelectorAll("input:checked")].map((box) => box.value);
      continue;
    }
    const control = wrapper.querySelector("input, select, textarea");
    if (wrapper.dataset.kind === "boolean") { params[name] = control.checked; continue; }
    if (control.value === "") { if (wrapper.dataset.nullable) params[name] = null; continue; }
    if (wrapper.dataset.kind === "number") params[name] = Number(control.value);
    else if (wrapper.dataset.kind === "json") {
      try { params[name] = JSON.parse(control.value); } catch { params[name] = control.value; }  // the server names it
    } else params[name] = control.value;
  }
  return params;
}

/** Show the `422` answer's field errors (`params.<name>...`) next to their fields. */
export function showFieldErrors(form, fields) {
  clearFieldErrors(form);
  let first = null;
  const unplaced = [];
  for (const { field, message } of fields || []) {
    const [scope, name] = String(field).split(".");
    const wrapper = scope === "params" && name ? form.querySelector(`.field[data-param="${CSS.escape(name)}"]`) : null;
    if (!wrapper) { unplaced.push(`${field}: ${message}`); continue; }
    const error = wrapper.querySelector(".field-error");
    error.textContent = error.hidden ? message : `${error.textContent}; ${message}`;
    error.hidden = false;
    const control = wrapper.querySelector("input, select, textarea, fieldset");
    control.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  if (first) (first.matches("fieldset") ? first.querySelector("input") : first).focus();
  return unplaced;
}

export function clearFieldErrors(form) {
  for (const error of form.querySelectorAll(".field-error")) { error.hidden = true; error.textContent = ""; }
  for (const bad of form.querySelectorAll("[aria-invalid]")) bad.removeAttribute("aria-invalid");
}
