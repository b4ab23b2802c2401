// Serve aimock (npm @copilotkit/aimock) on loopback with one fixed text reply, for
// bench/bench_fake_vs_aimock.py. Prints its base URL, then serves until stdin closes.
// Usage: node bench/aimock_server.mjs <module path of @copilotkit/aimock> <reply text>
const [modulePath, reply] = process.argv.slice(2);
const { LLMock } = await import(modulePath);
const mock = new LLMock({ port: 0, host: "127.0.0.1", logLevel: "silent" });
// Every user message gets the same reply (a regular expression that matches anything).
mock.onMessage(/[\s\S]*/, { content: reply });
await mock.start();
console.log(mock.url);
process.stdin.resume();
process.stdin.on("end", async () => {
  await mock.stop();
  process.exit(0);
});
