#!/usr/bin/env node
// Follow a murmur test forum's events from Node: every committed thread and post, in commit order.
//
//   node follow.js [FORUM_URL] [--since N] [--count N]
//
// FORUM_URL defaults to http://127.0.0.1:8765. With --since N the forum first replays every event after
// sequence number N, then goes live; without it, only live events come. Each event is printed as one JSON
// line ({seq, type, created_at, thread, post}); the rest (hello, reconnects) goes to stderr. When the forum
// goes away, or drops a subscriber that fell behind, the client reconnects with ?since=<the last seq it saw>,
// so nothing is missed and nothing is printed twice. --count N stops after N events.

"use strict";

const WebSocket = require("ws");

function parseArgs(argv) {
  const options = { url: "http://127.0.0.1:8765", since: null, count: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--since" || arg === "--count") {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 0) {
        throw new Error(`${arg}: give a whole number of 0 or more, got ${argv[i]}`);
      }
      options[arg.slice(2)] = value;
    } else if (arg.startsWith("http://") || arg.startsWith("https://")) {
      options.url = arg.replace(/\/+$/, "");
    } else {
      throw new Error(`unknown argument ${arg}; usage: node follow.js [FORUM_URL] [--since N] [--count N]`);
    }
  }
  return options;
}

function eventsUrl(base, since) {
  const url = new URL("/api/events", base.replace(/^http/, "ws"));
  if (since !== null) url.searchParams.set("since", String(since));
  return url.toString();
}

function follow({ url, since, count }) {
  let last = since; // the last sequence number printed: where a reconnect resumes
  let printed = 0;
  let delay = 250;

  const connect = () => {
    const socket = new WebSocket(eventsUrl(url, last));
    socket.on("open", () => { delay = 250; });
    socket.on("message", (data) => {
      const message = JSON.parse(data.toString("utf8"));
      if (message.type === "hello") {
        console.error(`hello: the forum's latest event is ${message.latest_seq}`);
        if (last === null) last = message.latest_seq; // live only: resume from here after a reconnect
        return;
      }
      if (message.type === "dropped") {
        console.error(`dropped for falling behind; resuming from ${message.resume_since}`);
        return; // the server closes the socket next; "close" reconnects with since=last
      }
      if (last !== null && message.seq <= last) return; // already printed before a reconnect
      last = message.seq;
      process.stdout.write(JSON.stringify(message) + "\n");
      printed += 1;
      if (printed >= count) {
        socket.removeAllListeners("close");
        socket.close();
      }
    });
    socket.on("error", (error) => console.error(`socket error: ${error.message}`));
    socket.on("close", () => {
      console.error(`disconnected; reconnecting in ${delay} ms from seq ${last}`);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    });
  };
  connect();
}

try {
  follow(parseArgs(process.argv.slice(2)));
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(2);
}
