// Follow a stream of numbered events (a run's, a distillation job's): fetch the object, then
// tail its events over a WebSocket, resuming from the last seq after any disconnect and catching
// up over plain HTTP meanwhile, so each event is seen exactly once, in order.
import { useEffect, useRef, useState } from "react";
import { get } from "./api";

export interface StreamEvent {
  seq: number;
  type: string;
}

export interface EventStreamOptions<E extends StreamEvent> {
  wsPath: string | null; // e.g. `/ws/runs/${id}/`; null: nothing to follow
  eventsPath: string; // e.g. `/api/runs/${id}/events`
  isFinal: (event: E) => boolean;
  onEvent: (event: E) => void; // called for each new event, after it is stored
  start: () => Promise<void>; // fetch the object before connecting
}

export function useEventStream<E extends StreamEvent>(options: EventStreamOptions<E>) {
  const [events, setEvents] = useState<E[]>([]);
  const [connected, setConnected] = useState(false);
  const latest = useRef(options);
  latest.current = options;
  const { wsPath, eventsPath } = options;

  useEffect(() => {
    setEvents([]);
    if (wsPath === null) return;
    let lastSeq = 0;
    let socket: WebSocket | null = null;
    let retry: number | undefined;
    let stopped = false;
    let failures = 0;

    function accept(event: E) {
      // A replay after a reconnect may overlap what we already have.
      if (event.seq <= lastSeq) return;
      lastSeq = event.seq;
      setEvents((old) => [...old, event]);
      latest.current.onEvent(event);
      if (latest.current.isFinal(event)) stopped = true;
    }

    async function catchUp() {
      const missed = await get<E[]>(`${eventsPath}?after=${lastSeq}`);
      missed.forEach(accept);
    }

    function connect() {
      if (stopped) return;
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${window.location.host}${wsPath}?after=${lastSeq}`);
      socket.onopen = () => {
        failures = 0;
        setConnected(true);
      };
      socket.onmessage = (message) => accept(JSON.parse(message.data) as E);
      socket.onclose = () => {
        setConnected(false);
        if (stopped) return;
        failures += 1;
        const reconnect = () => {
          if (!stopped) retry = window.setTimeout(connect, Math.min(5000, 250 * 2 ** failures));
        };
        catchUp().then(reconnect, reconnect);
      };
    }

    // A page being left (or reloaded) closes its sockets: that is not a drop to recover from.
    const leave = () => {
      stopped = true;
    };
    window.addEventListener("pagehide", leave);
    void latest.current
      .start()
      .then(() => connect())
      .catch(() => connect());
    return () => {
      window.removeEventListener("pagehide", leave);
      stopped = true;
      window.clearTimeout(retry);
      socket?.close();
    };
  }, [wsPath, eventsPath]);

  return { events, connected };
}
