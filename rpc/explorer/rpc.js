// A JSON-RPC 2.0 client of one node over its WebSocket: calls, and subscriptions that
// survive a lost connection. The explorer's only way to reach a node: the public API a
// wallet uses, nothing private.

/** How long a call may wait for its answer before the page says so. */
const CALL_TIMEOUT_MS = 15000;
/** Waits between reconnection attempts, the last one repeated. */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 5000];

/** An error the node answered with: `code` and `data` as JSON-RPC carries them. */
export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

/** The WebSocket address of the node at `origin` (`http://127.0.0.1:8645`). */
export function socketUrl(origin) {
  return origin.replace(/^http/, "ws") + "/";
}

export class NodeClient {
  /** A client of the node at `origin`; it connects at once and keeps reconnecting. */
  constructor(origin) {
    this.origin = origin;
    this.nextId = 1;
    this.calls = new Map(); // id -> {resolve, reject, timer}
    this.streams = new Set(); // followed subscriptions, restarted on every connection
    this.bySubscription = new Map(); // subscription id -> stream
    this.statusListeners = new Set();
    this.status = "connecting";
    this.attempt = 0;
    this.stopped = false;
    this.waiting = []; // calls made while not connected: [resolve, reject]
    this.connect();
  }

  /** Calls `fn(status)` now and at every change: "connecting", "open" or "closed". */
  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status);
    return () => this.statusListeners.delete(fn);
  }

  setStatus(status) {
    this.status = status;
    for (const fn of this.statusListeners) fn(status);
  }

  connect() {
    const socket = new WebSocket(socketUrl(this.origin));
    this.socket = socket;
    this.setStatus("connecting");
    socket.onopen = () => {
      this.attempt = 0;
      this.setStatus("open");
      for (const [resolve] of this.waiting.splice(0)) resolve();
      for (const stream of this.streams) this.start(stream);
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      for (const [id, call] of this.calls) {
        clearTimeout(call.timer);
        call.reject(new Error(`the connection to ${this.origin} was lost`));
        this.calls.delete(id);
      }
      this.bySubscription.clear();
      this.setStatus("closed");
      if (this.stopped) return;
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
  }

  /** Closes the connection for good. */
  stop() {
    this.stopped = true;
    this.streams.clear();
    for (const [, reject] of this.waiting.splice(0)) reject(new Error("stopped"));
    this.socket.close();
  }

  opened() {
    if (this.socket.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiting.push([resolve, reject]));
  }

  /** The result of `method(params)`, or an `RpcError` with the node's reason. */
  async call(method, params = []) {
    await this.opened();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`${method}: no answer within ${CALL_TIMEOUT_MS / 1000} s`));
      }, CALL_TIMEOUT_MS);
      this.calls.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /**
   * Follows subscription `method` across reconnections: `params()` is asked afresh at
   * each start (so a heads stream resumes after its last event), `onItem` gets each
   * item, `onError` a refusal. Returns a function that stops following.
   */
  follow(method, params, onItem, onError = (error) => console.error(error)) {
    const stream = { method, params, onItem, onError, id: null, active: true };
    this.streams.add(stream);
    if (this.status === "open") this.start(stream);
    return () => {
      stream.active = false;
      this.streams.delete(stream);
      if (stream.id !== null) {
        this.bySubscription.delete(stream.id);
        const unsubscribe = method.replace("_subscribe", "_unsubscribe");
        this.call(unsubscribe, [stream.id]).catch(() => {});
      }
    };
  }

  start(stream) {
    this.call(stream.method, stream.params()).then(
      (id) => {
        if (!stream.active) return;
        stream.id = id;
        this.bySubscription.set(id, stream);
      },
      (error) => stream.active && stream.onError(error),
    );
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      console.error(`${this.origin} sent a message that is not JSON`, error);
      return;
    }
    if (message.id !== undefined && message.id !== null && this.calls.has(message.id)) {
      const call = this.calls.get(message.id);
      this.calls.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) call.reject(new RpcError(message.error));
      else call.resolve(message.result);
      return;
    }
    const params = message.params;
    if (!params || params.subscription === undefined) return;
    const stream = this.bySubscription.get(params.subscription);
    if (!stream) return;
    if (params.error) {
      // The node closed the subscription (a subscriber that fell behind): start again
      // from where the stream's own parameters say.
      this.bySubscription.delete(params.subscription);
      stream.id = null;
      this.start(stream);
      return;
    }
    stream.onItem(params.result);
  }
}

/** The client of the node that served this page. */
export const node = new NodeClient(location.origin);
