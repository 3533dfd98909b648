// Centralita realtime client: one websocket per tab to /ws/events/.
// Each server event {type, op, event_id, ...} is re-dispatched on document.body as the DOM event
// "centralita:<type>" (detail = the event), so page code and htmx (`hx-trigger="centralita:x from:body"`)
// can react. After every (re)connect "centralita:resync" fires so regions reload their snapshot.
(function () {
  "use strict";
  const body = document.body;
  if (!body || body.dataset.realtime !== "on") return;
  let delay = 500;
  let socket = null;
  // An event can reach a tab through two groups (a topic and the user's own); each is dispatched once. The key is
  // the message text (the server encodes each event once, with its event_id): event ids are nanoseconds, beyond
  // what a JavaScript number holds exactly, so two events of one burst could share a parsed id.
  const recent = new Set();
  const order = [];
  function setState(state) {
    body.dataset.realtimeState = state;
    const badge = document.getElementById("realtime-state");
    if (badge) {
      badge.dataset.state = state;
      badge.title = badge.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || state;
    }
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(scheme + "://" + location.host + "/ws/events/");
    setState("connecting");
    socket.onopen = function () {
      delay = 500;
      setState("connected");
      body.dispatchEvent(new CustomEvent("centralita:resync"));
    };
    window.centralitaSend = function (message) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
    };
    socket.onmessage = function (msg) {
      let event;
      try { event = JSON.parse(msg.data); } catch (e) { return; }
      if (!event || !event.type) return;
      if (recent.has(msg.data)) return;
      recent.add(msg.data);
      order.push(msg.data);
      if (order.length > 200) recent.delete(order.shift());
      body.dispatchEvent(new CustomEvent("centralita:" + event.type, { detail: event }));
    };
    socket.onclose = function (ev) {
      setState("disconnected");
      if (ev.code === 4401) return; // logged out: do not hammer the server
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  setInterval(function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
  }, 25000);
  connect();
})();
