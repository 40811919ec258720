/**
 * Requests poolscope makes for itself are not the app's traffic: its report reading `/metrics`
 * in the process that runs the agent (the demo). An `http.Agent` carrying this key, set to true,
 * is poolscope's own, and the node:http tap follows none of its requests. A global symbol, so that
 * one copy of poolscope knows another's Agents. (OTLP exports, which ride node:http on the
 * exporter's own Agent, are counted: requests of the app's process to a collector, on its sockets
 * and its event loop, as an app's own SDK sends them.)
 */
export const OWN_AGENT = Symbol.for('poolscope.ownAgent');

/** Marks `agent` as poolscope's own (see OWN_AGENT), and returns it. */
export function ownAgent<T extends object>(agent: T): T {
  (agent as Record<symbol, unknown>)[OWN_AGENT] = true;
  return agent;
}
