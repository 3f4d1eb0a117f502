// The chat page's code (index.html loads it after goworld.js, as classic
// scripts, so the page works opened from disk and served as a folder).
//
// Type-checked by TypeScript (examples/chatroom_demo/stubs_test.go,
// TestWebPageTypeChecks) against the JavaScript client's declarations and
// the game's generated ones (chat.d.ts, goworldctl gen -lang ts): a call
// of a method the game does not expose, a handler of one it does not
// call, or arguments of the wrong type fail the test.
// @ts-check
"use strict";
(function () {
  /** @typedef {import("./chat").GameClient} GameClient */
  // The page's elements are inputs and buttons (and lists, which use
  // only what every element has).
  var $ = /** @type {(id: string) => HTMLInputElement} */ (function (id) { return document.getElementById(id); });
  var MAX_LINES = 500;
  var MAX_MEMBERS = 1000; // names kept for the members list
  var RECONNECT_MAX = 5 * 60 * 1000; // ms the page keeps trying to reconnect after a drop
  /** @type {GameClient | null} */
  var client = null;  // the GoWorld.Client while connected or connecting
  var me = "";        // the logged-in user name
  var room = "";      // the room the server says we are in
  var members = {};   // name -> true: who is in room, as far as we know
  var unlisted = 0;   // members the server counted but did not name
  var away = false;   // the connection dropped: the client is reconnecting
  // The gate, name and password of the session, kept (in this page's
  // memory only) to log in again if the gate refuses to resume it.
  /** @type {{gate: string, user: string, password: string} | null} */
  var creds = null;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  // show appends a line to the messages list: kind is "chat", "mine"
  // (one of our own messages), "info" or "error". Each line starts with
  // the time it arrived.
  function show(text, kind) {
    var list = $("messages");
    var li = document.createElement("li");
    li.className = kind || "chat";
    var now = new Date();
    var time = document.createElement("time");
    time.setAttribute("datetime", now.toISOString());
    time.textContent = two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
    var span = document.createElement("span");
    span.className = "text";
    span.textContent = text;
    li.appendChild(time);
    li.appendChild(span);
    list.appendChild(li);
    while (list.children.length > MAX_LINES) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  // renderMembers shows the members of the current room, sorted.
  function renderMembers() {
    var list = $("members");
    while (list.firstChild) list.removeChild(list.firstChild);
    var names = Object.keys(members).sort();
    names.forEach(function (n) {
      var li = document.createElement("li");
      li.textContent = n;
      if (n === me) li.className = "me";
      list.appendChild(li);
    });
    if (unlisted > 0) {
      var more = document.createElement("li");
      more.className = "more";
      more.textContent = "and " + unlisted + " more";
      list.appendChild(more);
    }
    $("members-room").textContent = room ? "of " + room : "";
    $("member-count").textContent = String(names.length + unlisted);
  }

  // addMember lists name (up to MAX_MEMBERS names); it reports whether
  // the list changed.
  function addMember(name) {
    if (!name || members[name] || Object.keys(members).length >= MAX_MEMBERS) return false;
    members[name] = true;
    return true;
  }

  function clearMembers() {
    members = {};
    unlisted = 0;
    renderMembers();
  }

  function status() {
    var s;
    if (!client) s = "Not connected.";
    else if (away) s = "Reconnecting…" + (me ? " (logged in as " + me + (room ? " in " + room : "") + ")" : "");
    else if (!me) s = "Connected, logging in…";
    else {
      var p = client.player();
      var said = p && typeof p.attrs.said === "number" ? p.attrs.said : 0;
      s = "Logged in as " + me + (room ? " in " + room : "") + " · " + said + (said === 1 ? " message" : " messages") + " said.";
    }
    $("status").textContent = s;
  }

  // ui enables what makes sense: logging in when disconnected, joining
  // and saying once logged in.
  function ui() {
    var connected = client !== null;
    $("login").disabled = connected;
    $("register").disabled = connected;
    $("gate").disabled = connected;
    $("user").disabled = connected;
    $("password").disabled = connected;
    $("logout").disabled = !connected;
    $("join").disabled = !me;
    $("text").disabled = !room;
    $("say").disabled = !room;
    status();
  }

  // call sends a call to the player, showing what goes wrong instead of throwing.
  function callPlayer(method) {
    try {
      client.callPlayer.apply(client, arguments);
    } catch (e) {
      show("error: " + e.message, "error");
    }
  }

  // login connects and logs in (method "Login"), or creates the account
  // and logs in to it (method "Register").
  function login(ev, method) {
    ev.preventDefault();
    if (client) return;
    var gate = $("gate").value.trim(), user = $("user").value.trim(), password = $("password").value;
    if (!user || !password) {
      show("enter a user name and a password", "error");
      return;
    }
    start(gate, method, user, password, "");
  }

  // start connects to gate and calls method (Login or Register) with
  // user and password on the boot Account, then joins rejoin (after a
  // refused resume) or the room in the form.
  //
  // The session is resumable (protocol.md 8.1): when the connection
  // drops, the client reconnects by itself and the page says
  // "reconnecting…", then "reconnected"; the room and its lines go on
  // where they were, none lost or repeated. It keeps trying for up to
  // RECONNECT_MAX, past the gate's resume window (60 s by default): if
  // the network comes back after the window, the gate refuses the
  // resume, and the page logs in again with the same name and password
  // and rejoins the room.
  function start(gate, method, user, password, rejoin) {
    // The client, typed by the game's declarations (chat.d.ts).
    var c = /** @type {GameClient} */ (/** @type {unknown} */ (new GoWorld.Client({ resume: true, reconnectMax: RECONNECT_MAX })));
    client = c;
    me = "";
    room = "";
    away = false;
    c.on("entityCreated", function (e) {
      // The boot Account: log in, or register.
      if (e.isPlayer && e.entity.type === "Account") {
        try {
          c.call(e.id, method, user, password);
        } catch (err) {
          show("error: " + err.message, "error");
        }
      }
      status();
    });
    c.on("attrChanged", status);
    c.onCall("OnLoginFailed", function (reason) {
      show((method === "Register" ? "registration" : "login") + " failed: " + reason, "error");
      c.close();
    });
    c.onCall("OnLogin", function (name) {
      me = String(name);
      creds = { gate: gate, user: user, password: password };
      show("logged in as " + me, "info");
      callPlayer("JoinRoom", rejoin || $("room").value.trim() || "lobby");
      ui();
    });
    c.on("reconnecting", function () {
      if (client !== c || away) return;
      away = true;
      show("reconnecting…", "info");
      ui();
    });
    c.on("resumed", function () {
      if (client !== c) return;
      away = false;
      show("reconnected", "info");
      ui();
    });
    c.onCall("OnJoined", function (r) {
      room = String(r);
      members = {};
      unlisted = 0;
      addMember(me);
      renderMembers();
      show("joined " + room, "info");
      ui();
    });
    c.onCall("OnMembers", function (r, names, total) {
      if (String(r) !== room || !Array.isArray(names)) return;
      members = {};
      names.slice(0, MAX_MEMBERS).forEach(function (n) { addMember(String(n)); });
      addMember(me);
      var n = Number(total);
      unlisted = n > names.length ? n - names.length : 0;
      renderMembers();
    });
    c.onCall("OnEntered", function (r, name) {
      r = String(r);
      name = String(name);
      if (r !== room || name === me) return;
      addMember(name);
      renderMembers();
      show(name + " joined " + r, "info");
    });
    c.onCall("OnChat", function (r, name, text) {
      r = String(r);
      name = String(name);
      show("[" + r + "] " + name + ": " + text, name === me ? "mine" : "chat");
      if (r === room && addMember(name)) renderMembers();
    });
    c.onCall("OnLeft", function (r, name) {
      r = String(r);
      name = String(name);
      if (r !== room || name === me) return;
      if (members[name]) {
        delete members[name];
      } else if (unlisted > 0) {
        unlisted--;
      }
      renderMembers();
      show(name + " left " + r, "info");
    });
    c.onCall("OnError", function (message) {
      show("error: " + message, "error");
    });
    c.on("disconnected", function (d) {
      if (client !== c) return;
      var again = d.refused && creds !== null && me !== "" ? creds : null;
      var was = room;
      away = false;
      client = null;
      me = "";
      room = "";
      creds = null;
      clearMembers();
      if (again) {
        show("the server could not resume the session (" + d.reason + "): logging in again as " + again.user +
          (was ? " and rejoining " + was : "") + "; lines sent meanwhile are lost", "info");
        start(again.gate, "Login", again.user, again.password, was);
        return;
      }
      show("disconnected: " + d.reason, d.kicked || d.reason !== "closed by the client" ? "error" : "info");
      ui();
    });
    ui();
    show("connecting to " + gate + "…", "info");
    c.connect(gate).catch(function (err) {
      if (client !== c) return;
      show(err.message, "error");
      client = null;
      ui();
    });
  }

  function join(ev) {
    ev.preventDefault();
    var r = $("room").value.trim();
    if (client && me && r) callPlayer("JoinRoom", r);
  }

  function say(ev) {
    ev.preventDefault();
    var text = $("text").value;
    if (!client || !room || text.trim() === "") return;
    callPlayer("Say", text);
    $("text").value = "";
  }

  $("login-form").addEventListener("submit", function (ev) { login(ev, "Login"); });
  $("register").addEventListener("click", function (ev) { login(ev, "Register"); });
  $("join-form").addEventListener("submit", join);
  $("say-form").addEventListener("submit", say);
  $("logout").addEventListener("click", function () {
    if (client) client.close();
  });
  ui();
})();
