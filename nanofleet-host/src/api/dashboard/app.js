// The NanoFleet dashboard: the fleet through the host's API, from a browser.
//
// No framework and no build step: the page is small. Everything from the API (plugin names,
// descriptions, messages, file contents) is inserted as text, never as HTML. The token is
// kept in sessionStorage and sent as a header, never in a URL. See the module docs of
// `nanofleet_host::api::dashboard` for the why.
"use strict";

const TOKEN_KEY = "nanofleet.token";
const CLIENTS = ["claude-code", "nanobot", "codex", "vscode"];
const POLL_MS = 4000;
// A plugin UI's session is renewed this long before it expires.
const RENEW_EARLY_MS = 20000;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  plugins: [],
  agents: [],
  keys: [],
  route: null,
  // What the current view rendered from, to redraw only what changed.
  drawn: "",
  sidebarDrawn: "",
  poller: null,
  uiTimer: null,
};

// --- Small helpers. ---------------------------------------------------------------------

// An element with attributes (or properties, for `on*` and a few others) and children.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

// Replaces the children of `target` (arrays flattened, nothing for null or false).
function fill(target, ...children) {
  target.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
}

// A form's field by name (not `form.name`, which a field named `id` or `name` would shadow).
const fieldOf = (form, name) => form.elements.namedItem(name).value;

class ApiFailure extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// A call to the API: JSON in and out, the API's own error words on failure.
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiFailure(`cannot reach the host: ${e.message}`, "unreachable", 0);
  }
  if (!response.ok) {
    const error = await response.json().catch(() => null);
    const failure = new ApiFailure(
      error?.message ?? `the host answered ${response.status} ${response.statusText}`,
      error?.code ?? "http_error",
      response.status,
    );
    if (response.status === 401) signOut(failure.message);
    throw failure;
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") ?? "";
  return type.includes("json") ? response.json() : response.text();
}

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("shown"), 3000);
}

// Shows an API failure as the API words it, until dismissed.
function alertFailure(what, error) {
  const el = $("alert");
  const close = h("button", { type: "button", class: "quiet", onclick: () => { el.hidden = true; } }, "Dismiss");
  fill(el,
    h("p", {}, h("strong", {}, `${what} failed: `), error.message),
    error.code ? h("p", {}, h("code", {}, error.code)) : null,
    close,
  );
  el.hidden = false;
  close.focus();
}

// Runs an action with its button disabled; failures are shown, successes toasted.
async function act(button, what, action, done) {
  if (button) button.disabled = true;
  try {
    await action();
    if (done) toast(done);
    await refresh(true);
  } catch (e) {
    if (e.status !== 401) alertFailure(what, e);
  } finally {
    if (button) button.disabled = false;
  }
}

// The confirmation dialog: resolves with {input, checked} when confirmed, or null.
function confirmDialog({ title, text, ok, danger = false, input = null, check = null }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const okButton = $("confirm-ok");
  okButton.textContent = ok;
  okButton.className = danger ? "danger" : "";
  $("confirm-input-row").hidden = !input;
  const field = $("confirm-input");
  field.value = input?.value ?? "";
  field.required = Boolean(input);
  if (input) {
    $("confirm-input-label").textContent = input.label;
    field.placeholder = input.placeholder ?? "";
  }
  $("confirm-check-row").hidden = !check;
  $("confirm-check").checked = false;
  if (check) $("confirm-check-label").textContent = check;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok"
        ? { input: field.value.trim(), checked: $("confirm-check").checked }
        : null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    (input ? field : okButton).focus();
  });
}

// --- Sign-in. ---------------------------------------------------------------------------

function showSignIn(message = "") {
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-token").value = "";
  $("signin-token").focus();
}

function signOut(message = "") {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  clearTimeout(state.uiTimer);
  showSignIn(message);
}

async function signIn(event) {
  event.preventDefault();
  const token = $("signin-token").value.trim();
  const button = event.submitter ?? $("signin-form").querySelector("button");
  button.disabled = true;
  state.token = token;
  try {
    // Any GET says whether the host takes the token.
    await api("GET", "/api/plugins");
    sessionStorage.setItem(TOKEN_KEY, token);
    await start();
  } catch (e) {
    state.token = null;
    // A 401 has shown the sign-in form with the API's words already.
    if (e.status !== 401) $("signin-error").textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

// --- Data. ------------------------------------------------------------------------------

async function load() {
  const [plugins, agents, keys] = await Promise.all([
    api("GET", "/api/plugins"),
    api("GET", "/api/agents"),
    api("GET", "/api/keys"),
  ]);
  state.plugins = plugins.plugins;
  state.agents = agents.agents;
  state.keys = keys.keys;
}

// Reloads and redraws the current view when what it shows changed (or when `force`).
async function refresh(force = false) {
  if (!state.token) return;
  try {
    await load();
  } catch (e) {
    if (e.status !== 401 && force) alertFailure("Loading", e);
    return;
  }
  drawSidebar();
  const snapshot = JSON.stringify([state.plugins, state.agents, state.keys]);
  if (!force && snapshot === state.drawn) return;
  // Never redraw under a person's hands: a focused field or an open dialog waits.
  const active = document.activeElement;
  const typing = active && ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName) && active.value;
  if (!force && (typing || $("confirm").open)) return;
  state.drawn = snapshot;
  drawData();
}

function startPolling() {
  stopPolling();
  state.poller = setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.poller);
  state.poller = null;
}

// --- Layout. ----------------------------------------------------------------------------

function plugin(name) {
  return state.plugins.find((p) => p.name === name);
}

function hasUi(record) {
  return Boolean(record.manifest.uiPort && record.manifest.sidebar);
}

function drawSidebar() {
  const withUi = state.plugins.filter(hasUi);
  const current = state.route?.view === "ui" ? state.route.name : null;
  // Redrawn only when it changes: a redraw would take the keyboard focus from a link.
  const key = JSON.stringify([current, withUi.map((p) => [p.name, p.manifest.sidebar.label])]);
  if (key === state.sidebarDrawn) return;
  state.sidebarDrawn = key;
  fill($("sidebar"),
    ...(withUi.length
      ? withUi.map((p) => h("li", {}, h("a", {
          href: `#/ui/${encodeURIComponent(p.name)}`,
          "aria-current": p.name === current ? "page" : null,
        }, p.manifest.sidebar.label || p.name)))
      : [h("li", { class: "muted" }, "No plugin has a UI")]),
  );
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  switch (parts[0]) {
    case "agents": return { view: "agents" };
    case "keys": return { view: "keys" };
    case "ui": return parts[1] ? { view: "ui", name: parts[1] } : { view: "plugins" };
    case "plugins": return parts[1] ? { view: "plugin", name: parts[1] } : { view: "plugins" };
    default: return { view: "plugins" };
  }
}

// Draws the view the URL names: its frame once (forms keep what is typed), then its data.
function route() {
  state.route = parseRoute();
  clearTimeout(state.uiTimer);
  const section = { plugin: "plugins", ui: "plugins" }[state.route.view] ?? state.route.view;
  for (const link of document.querySelectorAll("nav a")) {
    link.setAttribute("aria-current", link.dataset.section === section ? "page" : "false");
  }
  const main = $("main");
  const frame = VIEWS[state.route.view].frame(state.route);
  fill(main, ...frame);
  drawSidebar();
  state.drawn = "";
  drawData();
  // For screen readers and the keyboard, the new view is where focus is; the page starts at
  // its top.
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function drawData() {
  const view = VIEWS[state.route.view];
  if (view.data) view.data(state.route);
}

// --- Plugins. ---------------------------------------------------------------------------

function statusCell(record) {
  return h("span", { class: `status status-${record.status}` }, record.status);
}

function pluginActions(record) {
  const name = record.name;
  const enabled = record.desired !== "stopped";
  const button = (text, onclick, cls) => h("button", { type: "button", class: cls, onclick }, text);
  return [
    button("Restart", (e) => confirmThen(e.target, {
      title: `Restart ${name}?`, text: "Its container is replaced; calls in flight fail.", ok: "Restart",
    }, () => api("POST", `/api/plugins/${enc(name)}/restart`), `${name} restarted`), "quiet"),
    enabled
      ? button("Disable", (e) => confirmThen(e.target, {
          title: `Disable ${name}?`, text: "It is stopped and stays stopped; its links stay.", ok: "Disable",
        }, () => api("POST", `/api/plugins/${enc(name)}/disable`), `${name} disabled`), "quiet")
      : button("Enable", (e) => act(e.target, "Enable",
          () => api("POST", `/api/plugins/${enc(name)}/enable`), `${name} enabled`), "quiet"),
    button("Upgrade", (e) => upgrade(e.target, record), "quiet"),
    button("Uninstall", (e) => uninstall(e.target, record), "danger"),
  ];
}

const enc = encodeURIComponent;

async function confirmThen(button, dialog, action, done) {
  if (await confirmDialog(dialog)) await act(button, dialog.ok, action, done);
}

// `nanofleet/notes:0.1.0`, `image:…` or an http(s) URL, as the API's install body.
function sourceBody(text) {
  const source = text.trim();
  if (/^https?:\/\//i.test(source)) return { url: source };
  return { image: source.replace(/^image:/, "") };
}

async function upgrade(button, record) {
  const answer = await confirmDialog({
    title: `Upgrade ${record.name}?`,
    text: `It runs ${record.manifest.version} (${record.manifest.image}); the old version serves until the new one is ready.`,
    ok: "Upgrade",
    input: { label: "New image or manifest URL", placeholder: record.manifest.image, value: record.manifest.image },
  });
  if (!answer || !answer.input) return;
  await act(button, "Upgrade",
    () => api("POST", `/api/plugins/${enc(record.name)}/upgrade`, sourceBody(answer.input)),
    `${record.name} upgraded`);
}

async function uninstall(button, record) {
  const answer = await confirmDialog({
    title: `Uninstall ${record.name}?`,
    text: "Its container and its links go; agents lose its tools.",
    ok: "Uninstall",
    danger: true,
    check: "Also delete its data volume, for good",
  });
  if (!answer) return;
  await act(button, "Uninstall",
    () => api("DELETE", `/api/plugins/${enc(record.name)}?purge=${answer.checked}`),
    `${record.name} uninstalled`);
  if (state.route.view === "plugin") location.hash = "#/plugins";
}

const VIEWS = {};

VIEWS.plugins = {
  frame() {
    const field = h("input", {
      id: "install-source", name: "source", required: true, spellcheck: "false",
      placeholder: "nanofleet/notes:0.1.0 or https://example.com/manifest.json",
    });
    const form = h("form", { class: "inline-form", onsubmit: install },
      h("label", { class: "grow", for: "install-source" }, "Install from an image or a manifest URL", field),
      h("button", { type: "submit" }, "Install"));
    return [h("h2", {}, "Plugins"), form, h("div", { id: "plugins-table", class: "table-wrap" })];
  },
  data() {
    const target = $("plugins-table");
    if (!target) return;
    if (!state.plugins.length) {
      fill(target, h("p", { class: "muted" }, "No plugins installed yet."));
      return;
    }
    const rows = state.plugins.map((p) => h("tr", { dataset: { plugin: p.name } },
      h("td", {}, h("a", { href: `#/plugins/${enc(p.name)}` }, p.name)),
      h("td", {}, p.manifest.version),
      h("td", {}, statusCell(p), p.statusMessage ? h("div", { class: "muted" }, p.statusMessage) : null),
      h("td", { class: "optional" }, String(p.tools.length)),
      h("td", { class: "optional" }, String(linkedAgents(p.name).length)),
      h("td", { class: "actions" }, pluginActions(p)),
    ));
    fill(target, h("table", {},
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Version"),
        h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "optional" }, "Tools"),
        h("th", { scope: "col", class: "optional" }, "Agents"), h("th", { scope: "col" }, "Actions"))),
      h("tbody", {}, rows)));
  },
};

async function install(event) {
  event.preventDefault();
  const field = $("install-source");
  const button = event.submitter;
  const body = sourceBody(field.value);
  toast("Installing… (it is ready once it lists its tools)");
  await act(button, "Install", async () => {
    const record = await api("POST", "/api/plugins", body);
    field.value = "";
    toast(`${record.name} ${record.manifest.version} is ready: ${record.tools.length} tools`);
  });
}

function linkedAgents(name) {
  return state.agents.filter((a) => a.plugins.includes(name)).map((a) => a.id);
}

VIEWS.plugin = {
  frame(route) {
    return [
      h("p", {}, h("a", { href: "#/plugins" }, "← Plugins")),
      h("div", { id: "plugin-detail" }),
      h("h3", {}, "Log"),
      h("div", { class: "inline-form" },
        h("button", { type: "button", class: "quiet", onclick: () => drawLogs(route.name) }, "Refresh the log")),
      h("pre", { id: "plugin-logs", tabindex: "0", "aria-label": "Last lines of the log" }, "…"),
    ];
  },
  data(route) {
    const target = $("plugin-detail");
    const record = plugin(route.name);
    if (!target) return;
    if (!record) {
      fill(target, h("h2", {}, route.name), h("p", {}, "This plugin is not installed."));
      return;
    }
    const m = record.manifest;
    const facts = [
      ["Status", [statusCell(record), record.statusMessage ? ` — ${record.statusMessage}` : ""]],
      ["Desired", record.desired],
      ["Image", h("code", {}, m.image)],
      ["Author", m.author || "—"],
      ["Agents", linkedAgents(record.name).join(", ") || "none linked"],
      ["UI", hasUi(record) ? h("a", { href: `#/ui/${enc(record.name)}` }, `Open ${m.sidebar.label}`) : "none"],
    ];
    fill(target,
      h("h2", {}, `${record.name} `, h("span", { class: "muted" }, m.version)),
      m.description ? h("p", {}, m.description) : null,
      h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("div", { class: "inline-form" }, pluginActions(record)),
      h("h3", {}, `Tools (${record.tools.length})`),
      record.tools.length ? record.tools.map(toolBlock) : h("p", { class: "muted" }, "It lists no tools."),
    );
    if ($("plugin-logs").textContent === "…") drawLogs(record.name);
  },
};

function toolBlock(tool) {
  const a = tool.annotations ?? {};
  const badges = [
    a.readOnlyHint && "read-only",
    a.destructiveHint && !a.readOnlyHint && "destructive",
    a.idempotentHint && "idempotent",
    a.openWorldHint && "open-world",
  ].filter(Boolean).map((b) => h("span", { class: "badge" }, b));
  return h("div", { class: "tool", dataset: { tool: tool.name } },
    h("h4", {}, tool.name, badges),
    tool.description ? h("p", {}, tool.description) : null,
    h("details", {},
      h("summary", {}, "Input schema"),
      h("pre", {}, JSON.stringify(tool.inputSchema ?? {}, null, 2))),
    tool.outputSchema ? h("details", {},
      h("summary", {}, "Output schema"),
      h("pre", {}, JSON.stringify(tool.outputSchema, null, 2))) : null);
}

async function drawLogs(name) {
  const target = $("plugin-logs");
  if (!target) return;
  try {
    const text = await api("GET", `/api/plugins/${enc(name)}/logs?tail=100`);
    target.textContent = text || "(nothing logged)";
  } catch (e) {
    target.textContent = `cannot read the log: ${e.message}`;
  }
}

// --- Agents. ----------------------------------------------------------------------------

VIEWS.agents = {
  frame() {
    const field = (label, attrs) => h("label", {}, label, h("input", attrs));
    const form = h("form", { class: "inline-form", onsubmit: registerAgent },
      field("Id", { id: "agent-id", name: "id", required: true, spellcheck: "false" }),
      field("Name", { id: "agent-name", name: "name", placeholder: "as the id" }),
      h("label", { class: "grow" }, "Workspace directory (on the host)",
        h("input", { id: "agent-workspace", name: "workspace", required: true, spellcheck: "false",
                     placeholder: "/home/me/agents/alice" })),
      h("label", {}, "Client",
        h("select", { id: "agent-client", name: "client" }, CLIENTS.map((c) => h("option", { value: c }, c)))),
      h("button", { type: "submit" }, "Register"));
    return [h("h2", {}, "Agents"), form, h("div", { id: "agents-list" })];
  },
  data() {
    const target = $("agents-list");
    if (!target) return;
    if (!state.agents.length) {
      fill(target, h("p", { class: "muted" }, "No agents registered yet."));
      return;
    }
    fill(target, ...state.agents.map(agentCard));
  },
};

function agentCard(agent) {
  const links = h("fieldset", { class: "links" },
    h("legend", {}, "Linked plugins"),
    state.plugins.length
      ? state.plugins.map((p) => {
          const id = `link-${agent.id}-${p.name}`;
          return h("span", {},
            h("input", {
              type: "checkbox", id, checked: agent.plugins.includes(p.name),
              dataset: { agent: agent.id, plugin: p.name },
              onchange: (e) => setLink(e.target, agent.id, p.name, e.target.checked),
            }),
            " ", h("label", { for: id }, p.name));
        })
      : h("span", { class: "muted" }, "No plugins installed."));
  const config = h("pre", { class: "client-config", tabindex: "0" }, "…");
  const details = h("details", {
    ontoggle: (e) => { if (e.target.open) drawClientConfig(agent.id, config); },
  }, h("summary", {}, `Client config (${agent.configPath})`), config);
  return h("article", { class: "card", dataset: { agent: agent.id } },
    h("header", {}, h("h3", {}, agent.id), h("span", { class: "muted" }, `${agent.name} · ${agent.client}`)),
    h("p", { class: "muted" }, `Workspace ${agent.workspaceDir}`),
    links,
    details,
    h("button", {
      type: "button", class: "danger",
      onclick: (e) => confirmThen(e.target, {
        title: `Remove agent ${agent.id}?`,
        text: "The host's entries leave its client config; its own entries stay.",
        ok: "Remove", danger: true,
      }, () => api("DELETE", `/api/agents/${enc(agent.id)}`), `agent ${agent.id} removed`),
    }, "Remove"));
}

async function drawClientConfig(id, target) {
  try {
    const config = await api("GET", `/api/agents/${enc(id)}/client-config`);
    target.textContent = config.content ?? `(${config.path} does not exist yet: no plugin is linked)`;
  } catch (e) {
    target.textContent = `cannot read it: ${e.message}`;
  }
}

async function setLink(box, agent, name, linked) {
  await act(box, linked ? "Link" : "Unlink",
    () => api(linked ? "PUT" : "DELETE", `/api/agents/${enc(agent)}/links/${enc(name)}`),
    linked ? `${agent} can call ${name}` : `${agent} no longer calls ${name}`);
  // Redrawn from the host's answer: a refused change shows as it is.
  const open = document.querySelector(`article[data-agent="${CSS.escape(agent)}"] details`);
  if (open?.open) drawClientConfig(agent, open.querySelector("pre"));
}

async function registerAgent(event) {
  event.preventDefault();
  const form = event.target;
  const id = fieldOf(form, "id").trim();
  const body = {
    id,
    name: fieldOf(form, "name").trim() || id,
    workspaceDir: fieldOf(form, "workspace").trim(),
    client: fieldOf(form, "client"),
  };
  await act(event.submitter, "Register", async () => {
    await api("POST", "/api/agents", body);
    form.reset();
  }, `agent ${id} registered`);
}

// --- API keys. --------------------------------------------------------------------------

VIEWS.keys = {
  frame() {
    const form = h("form", { class: "inline-form", onsubmit: setKey },
      h("label", {}, "Name", h("input", { id: "key-name", name: "name", required: true, spellcheck: "false",
                                          placeholder: "OPENAI_API_KEY" })),
      h("label", { class: "grow" }, "Value (stored encrypted, never shown again)",
        h("input", { id: "key-value", name: "value", type: "password", required: true,
                     autocomplete: "off" })),
      h("button", { type: "submit" }, "Set"));
    return [h("h2", {}, "API keys"), form, h("div", { id: "keys-table", class: "table-wrap" })];
  },
  data() {
    const target = $("keys-table");
    if (!target) return;
    const required = new Map();
    for (const p of state.plugins) {
      for (const key of p.manifest.requiredEnvVars ?? []) {
        required.set(key, [...(required.get(key) ?? []), p.name]);
      }
    }
    const names = [...new Set([...state.keys, ...required.keys()])].sort();
    if (!names.length) {
      fill(target, h("p", { class: "muted" }, "No keys set, and no plugin requires one."));
      return;
    }
    fill(target, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Set"),
        h("th", { scope: "col" }, "Required by"), h("th", { scope: "col" }, "Actions"))),
      h("tbody", {}, names.map((name) => {
        const set = state.keys.includes(name);
        return h("tr", { dataset: { key: name } },
          h("td", {}, h("code", {}, name)),
          h("td", {}, set ? "yes" : h("strong", {}, "missing")),
          h("td", {}, (required.get(name) ?? []).join(", ") || "—"),
          h("td", { class: "actions" }, set ? h("button", {
            type: "button", class: "danger",
            onclick: (e) => confirmThen(e.target, {
              title: `Remove ${name}?`,
              text: "Running plugins keep the old value; a plugin requiring it will not start again until it is set.",
              ok: "Remove", danger: true,
            }, () => api("DELETE", `/api/keys/${enc(name)}`), `${name} removed`),
          }, "Remove") : null));
      }))));
  },
};

async function setKey(event) {
  event.preventDefault();
  const form = event.target;
  const name = fieldOf(form, "name").trim();
  const value = fieldOf(form, "value");
  await act(event.submitter, "Set key", async () => {
    await api("PUT", `/api/keys/${enc(name)}`, { value });
    form.reset();
  }, `${name} set; restart the plugins that use it`);
}

// --- Plugin UIs. ------------------------------------------------------------------------

VIEWS.ui = {
  frame(route) {
    const record = plugin(route.name);
    const label = record?.manifest.sidebar?.label ?? route.name;
    const frame = h("iframe", {
      id: "plugin-ui",
      title: `${label}, the UI of ${route.name}`,
      // Never allow-same-origin: the page must not reach the dashboard's storage.
      sandbox: "allow-scripts allow-forms allow-popups",
      referrerpolicy: "no-referrer",
    });
    openUi(route.name, frame);
    return [h("div", { class: "frame" },
      h("h2", {}, label, " ", h("span", { class: "muted" }, route.name)), frame)];
  },
};

// Loads a fresh UI session in `frame`, and renews it before it expires.
async function openUi(name, frame) {
  clearTimeout(state.uiTimer);
  try {
    const session = await api("POST", `/api/plugins/${enc(name)}/ui-session`);
    if (state.route?.view !== "ui" || state.route.name !== name) return;
    frame.src = session.url;
    const renewIn = session.expiresAt * 1000 - Date.now() - RENEW_EARLY_MS;
    state.uiTimer = setTimeout(() => openUi(name, frame), Math.max(renewIn, 30000));
  } catch (e) {
    if (e.status !== 401) alertFailure(`Opening the UI of ${name}`, e);
  }
}

// --- Start. -----------------------------------------------------------------------------

async function start() {
  await load();
  $("signin").hidden = true;
  $("app").hidden = false;
  route();
  startPolling();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => { if (state.token) route(); });
  if (!state.token) {
    showSignIn();
    return;
  }
  start().catch((e) => {
    if (e.status !== 401) showSignIn(e.message);
  });
});
