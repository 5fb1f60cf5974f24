// What generator.mjs and storm.mjs share: the clock, the codec, the output
// lines, and the helpers of connecting.

import { Decoder, Encoder } from "@msgpack/msgpack";

export const SUBPROTOCOL = "heartline.v1";
export const encoder = new Encoder();
export const decoder = new Decoder();

/** Seconds on CLOCK_MONOTONIC, the clock of Python's time.perf_counter() (see generator.mjs). */
export function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

export function log(message) {
  process.stderr.write(`${process.argv[1].split("/").pop()}: ${message}\n`);
}

/** One JSON line on stdout, the runner's side of the conversation. */
export function emit(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** At most `size` holders at once: the handshakes in flight. */
export class Gate {
  constructor(size) {
    this.free = size;
    this.waiting = [];
  }

  async acquire() {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise((resolve) => this.waiting.push(resolve));
  }

  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}

/** Resolves once the socket is open; rejects on an error or a close before that. */
export function opened(ws) {
  return new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
    ws.once("close", (code) => reject(new Error(`closed with ${code} before opening`)));
  });
}
