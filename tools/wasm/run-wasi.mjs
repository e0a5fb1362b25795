// Runs a wasm32-wasip1 build of a command under Node's WASI, with the current directory and /tmp
// readable: `node tools/wasm/run-wasi.mjs <file.wasm> [args...]`. Used for the in-wasm benchmark.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, env, exit } from "node:process";

const [wasmPath, ...args] = argv.slice(2);
const wasi = new WASI({
  version: "preview1",
  args: [wasmPath, ...args],
  env,
  preopens: { ".": ".", "/tmp": "/tmp" },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
