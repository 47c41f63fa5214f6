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

/** `X | None` is `anyOf: [X, {type: "null"}]`: the field is X, and may be left empty. A
 * `Decimal` is `anyOf: [number, string]`: typed as text and sent as a string, exactly. */
function unwrapOptional(schema, root) {
  const options = schema.anyOf || schema.oneOf;
  if (options) {
    const { anyOf: _a, oneOf: _o, ...rest } = schema;
    const real = options.filter((option) => option.type !== "null").map((option) => resolve(option, root));
    const nullable = real.length < options.length;
    if (real.length === 1) return { schema: { ...real[0], ...rest }, nullable };
    const types = real.map((option) => option.type).sort().join(",");
    if (types === "number,string") return { schema: { ...rest, type: "string", decimal: true }, nullable };
  }
  return { schema: resolve(schema, root), nullable: false };
}

/** How a field is drawn and read back: "choice", "choices", "boolean", "number", "list",
 * "text" or "json". `bool | None` is a choice (yes, no or neither). */
export function fieldKind(schema, root, nullable = false) {
  if (schema.enum) return "choice";
  if (schema.type === "boolean") return nullable ? "choice" : "boolean";
  if (schema.type === "array") {
    const items = resolve(schema.items, root);
    if (items.enum) return "choices";
    if (["string", "integer", "number"].includes(items.type)) return "list";
  }
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string") return "text";
  return "json";
}

/** A choice's values are kept as JSON, so `2` goes back as the number 2, never "2". */
const encode = (value) => JSON.stringify(value);

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
  const step = schema.multipleOf ?? (schema.type === "integer" ? 1 : "any");
  const input = el("input", { id, type: "number", step: String(step) });
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
  const kind = fieldKind(schema, root, nullable);
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
      box.dataset.json = encode(value);
      set.append(el("label", { className: "choice" }, box, ` ${value}`));
    }
    describe(set);
    wrapper.append(set, hint, error);
    return wrapper;
  }
  if (kind === "boolean") {  // the box beside its label, not across the form
    const box = el("input", { id, type: "checkbox", checked: Boolean(schema.default), name });
    describe(box);
    wrapper.append(el("label", { className: "choice" }, box, ` ${labelText(name, schema)}`), hint, error);
    return wrapper;
  }
  let control;
  if (kind === "choice") {
    control = el("select", { id });
    if (nullable || !required) control.add(new Option("—", ""));
    const values = schema.type === "boolean" ? [true, false] : schema.enum;
    for (const value of values) {
      const shown = value === true ? "yes" : value === false ? "no" : String(value);
      control.add(new Option(shown, encode(value), false, value === schema.default));
    }
  } else if (kind === "number") {
    control = numberInput(id, schema);
  } else if (kind === "list") {
    control = el("input", { id, type: "text", placeholder: "comma-separated" });
    control.dataset.items = ["integer", "number"].includes(resolve(schema.items, root).type) ? "number" : "text";
    if (Array.isArray(schema.default)) control.value = schema.default.join(", ");
  } else if (kind === "text") {
    control = el("input", { id, type: schema.format === "date" ? "date" : "text" });
    if (schema.decimal) control.inputMode = "decimal";
    if (schema.maxLength) control.maxLength = schema.maxLength;
    if (schema.minLength) control.minLength = schema.minLength;
    if (schema.pattern) control.pattern = schema.pattern;
    if (schema.default !== undefined && schema.default !== null) control.value = String(schema.default);
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
  const start = el("button", { id: "start-button", type: "submit", textContent: "Start" });
  form.append(el("div", { className: "actions" }, start));
  return form;
}

/** The params the form describes; a field left empty is left out (the server's default).
 * Returns null, with the field marked, when a JSON field does not parse. */
export function readParams(form) {
  clearFieldErrors(form);
  const params = {};
  for (const wrapper of form.querySelectorAll(".field")) {
    const name = wrapper.dataset.param;
    const kind = wrapper.dataset.kind;
    if (kind === "choices") {
      params[name] = [...wrapper.querySelectorAll("input:checked")].map((box) => JSON.parse(box.dataset.json));
      continue;
    }
    const control = wrapper.querySelector("input, select, textarea");
    if (kind === "boolean") { params[name] = control.checked; continue; }
    if (control.value === "") { if (wrapper.dataset.nullable) params[name] = null; continue; }
    if (kind === "number") params[name] = Number(control.value);
    else if (kind === "choice") params[name] = JSON.parse(control.value);
    else if (kind === "list") {
      const items = control.value.split(",").map((item) => item.trim()).filter(Boolean);
      const numeric = control.dataset.items === "number";
      params[name] = items.map((item) => (numeric && item !== "" && !Number.isNaN(Number(item)) ? Number(item) : item));
    } else if (kind === "json") {
      try { params[name] = JSON.parse(control.value); } catch {
        showFieldErrors(form, [{ field: `params.${name}`, message: "this is not valid JSON" }]);
        return null;
      }
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
    const [scope, name, ...within] = String(field).split(".");
    const wrapper = scope === "params" && name ? form.querySelector(`.field[data-param="${CSS.escape(name)}"]`) : null;
    if (!wrapper) { unplaced.push(`${field}: ${message}`); continue; }
    // Inside the field: "item 2" of a list, "zip" of an object.
    const where = within.map((part) => (/^\d+$/.test(part) ? `item ${Number(part) + 1}` : part)).join(", ");
    const said = where ? `${where}: ${message}` : message;
    const error = wrapper.querySelector(".field-error");
    error.textContent = error.hidden ? said : `${error.textContent}; ${said}`;
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
