// The demo page's script: log in with cookie delivery, then call /me, refresh and log out.
// Tokens are in HttpOnly cookies the browser sends by itself; this script reads only the CSRF
// cookie and echoes it in X-CSRF-Token (double submit) on the state-changing calls.
"use strict";

const CSRF_COOKIES = ["__Host-csrf_token", "csrf_token"]; // with and without the secure prefix
const session = { user: null, subject: null, scope: null, expiresAt: null };
let csrfFromBody = null; // the login/refresh answer carries it too, in case cookies are unprefixed
const USER_KEY = "lambda-jwt-auth-demo-user"; // only the username, to show it again after a reload

function element(id) {
  return document.getElementById(id);
}

function readCookie(name) {
  for (const pair of document.cookie.split(";")) {
    const [key, ...rest] = pair.trim().split("=");
    if (key === name) {
      return decodeURIComponent(rest.join("="));
    }
  }
  return null;
}

function csrfToken() {
  for (const name of CSRF_COOKIES) {
    const value = readCookie(name);
    if (value) {
      return value;
    }
  }
  return csrfFromBody;
}

// One call to the API: same-origin cookies only, JSON in and out, never throws.
async function call(method, path, { json, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { ...headers } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { status: 0, ok: false, data: null, text: String(error) };
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  return { status: response.status, ok: response.ok, data, text };
}

function explain(action, result) {
  if (result.status === 0) {
    return `${action}: cannot reach the server (${result.text}).`;
  }
  const detail = (result.data && (result.data.error_description || result.data.message || result.data.error)) || "";
  const suffix = detail ? `: ${detail}` : "";
  if (result.status === 401 && action === "Log in") {
    return "Wrong username or password (HTTP 401).";
  }
  if (result.status === 401 || (result.status === 403 && action === "Who am I")) {
    return `${action}: not logged in, or the session has ended (HTTP ${result.status}${suffix}). Log in again.`;
  }
  if (result.status === 403 && result.data && result.data.error === "csrf") {
    return `${action} refused by the CSRF check (HTTP 403)${suffix}.`;
  }
  switch (result.status) {
    case 400:
      return `${action} rejected as a bad request (HTTP 400)${suffix}.`;
    case 403:
      return `${action} refused (HTTP 403)${suffix}.`;
    case 429:
      return `${action}: too many attempts (HTTP 429); wait a little and try again.`;
    default:
      return `${action} failed (HTTP ${result.status})${suffix}.`;
  }
}

function showResult(action, method, path, result) {
  const last = element("last-result");
  const status = result.status === 0 ? "network error" : `HTTP ${result.status}`;
  last.textContent = `${action}: ${method} ${path} -> ${status}`;
  last.dataset.status = String(result.status);
  last.dataset.ok = String(result.ok);
  element("response-body").textContent = result.data ? JSON.stringify(result.data, null, 2) : result.text || "(empty)";
  const error = element("error");
  if (result.ok) {
    error.hidden = true;
    error.textContent = "";
  } else {
    error.hidden = false;
    error.textContent = explain(action, result);
  }
}

function startSession(user, answer) {
  session.user = user;
  if (user) {
    sessionStorage.setItem(USER_KEY, user);
  }
  session.scope = answer.scope ?? session.scope;
  session.expiresAt = typeof answer.expires_in === "number" ? Date.now() + answer.expires_in * 1000 : null;
  csrfFromBody = answer.csrf_token ?? csrfFromBody;
  render();
}

function endSession() {
  sessionStorage.removeItem(USER_KEY);
  session.user = null;
  session.subject = null;
  session.scope = null;
  session.expiresAt = null;
  csrfFromBody = null;
  render();
}

function render() {
  const active = Boolean(session.user);
  element("session-state").dataset.state = active ? "active" : "anonymous";
  // What can be done follows the state: no login form while logged in, no refresh or logout out.
  element("login-card").hidden = active;
  element("refresh-button").hidden = !active;
  element("logout-button").hidden = !active;
  element("state-user").textContent = session.user ?? "nobody";
  element("state-subject").textContent = session.subject ?? "-";
  element("state-scopes").textContent = session.scope || "-";
  element("state-expiry").textContent = expiryText();
}

function expiryText() {
  if (session.expiresAt === null) {
    return "-";
  }
  const seconds = Math.round((session.expiresAt - Date.now()) / 1000);
  if (seconds <= 0) {
    return "expired (press Refresh)";
  }
  const minutes = Math.floor(seconds / 60);
  return `in ${minutes}:${String(seconds % 60).padStart(2, "0")}`;
}

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

// After a reload: what the session holds (scopes, expiry), asked of /me; a GET changes nothing.
async function restore() {
  if (!session.user) {
    return;
  }
  applyMe(await call("GET", "/me"));
}

// What /me answered: the session's subject, scopes and expiry, or its end (401/403).
function applyMe(result) {
  if (result.ok && result.data) {
    session.subject = result.data.sub;
    session.user = session.user ?? result.data.sub;
    session.scope = result.data.scope;
    if (typeof result.data.exp === "number") {
      session.expiresAt = result.data.exp * 1000;
    }
    render();
  } else if (result.status === 401 || result.status === 403) {
    endSession();
  }
}

async function logIn(event) {
  event.preventDefault();
  const username = element("username").value.trim();
  const password = element("password").value;
  await busy(element("login-button"), async () => {
    const result = await call("POST", "/auth/login", {
      json: { username, password },
      headers: { "X-Token-Delivery": "cookie" },
    });
    element("password").value = "";
    showResult("Log in", "POST", "/auth/login", result);
    if (result.ok && result.data) {
      startSession(username, result.data);
    }
  });
}

async function whoAmI() {
  await busy(element("whoami-button"), async () => {
    const result = await call("GET", "/me");
    showResult("Who am I", "GET", "/me", result);
    applyMe(result);
  });
}

async function refresh() {
  await busy(element("refresh-button"), async () => {
    const token = csrfToken();
    const headers = token ? { "X-CSRF-Token": token } : {};
    const result = await call("POST", "/auth/refresh", { json: {}, headers });
    showResult("Refresh", "POST", "/auth/refresh", result);
    if (result.ok && result.data) {
      startSession(session.user, result.data);
    } else if (result.status === 401 || result.status === 403) {
      endSession(); // refused: the session is over here too (the error box says why)
    }
  });
}

async function logOut() {
  await busy(element("logout-button"), async () => {
    const token = csrfToken();
    const headers = token ? { "X-CSRF-Token": token } : {};
    const result = await call("POST", "/auth/logout", { headers });
    showResult("Log out", "POST", "/auth/logout", result);
    if (result.ok || result.status === 401 || result.status === 403) {
      endSession();
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  element("login-form").addEventListener("submit", logIn);
  element("whoami-button").addEventListener("click", whoAmI);
  element("refresh-button").addEventListener("click", refresh);
  element("logout-button").addEventListener("click", logOut);
  setInterval(() => {
    element("state-expiry").textContent = expiryText();
  }, 1000);
  if (csrfToken()) {
    session.user = sessionStorage.getItem(USER_KEY); // a session from before a reload, if any
  }
  render();
  restore().finally(() => {
    document.body.dataset.ready = "true";
  });
});
