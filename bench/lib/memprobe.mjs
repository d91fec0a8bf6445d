// Preloaded into the AutoTLS process by `npm run bench -- --mem-probe`
// (node --import): samples process.memoryUsage() every 20 ms and reports the
// breakdown at the peak RSS when the process exits, plus a snapshot on SIGUSR2
// (sent by the bench just before `/process`). Lines start with MEMPROBE.
import { writeSync } from 'node:fs';
import v8 from 'node:v8';

const mb = (x) => Math.round((x / 1048576) * 10) / 10;
function snapshot() {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.space_used_size)]));
  const h = v8.getHeapStatistics();
  return {
    rss: mb(m.rss),
    heapTotal: mb(m.heapTotal),
    heapUsed: mb(m.heapUsed),
    external: mb(m.external),
    arrayBuffers: mb(m.arrayBuffers),
    // wasm code and data (Prisma's query compiler) live outside the JS heap.
    mallocedMemory: mb(h.malloced_memory),
    peakMallocedMemory: mb(h.peak_malloced_memory),
    externalMemory: mb(h.external_memory),
    spaces,
  };
}
let peak = { rss: 0 };
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peak.rss * 1048576) peak = snapshot();
};
const timer = setInterval(sample, 20);
timer.unref();
process.on('SIGUSR2', () => writeSync(2, `MEMPROBE idle ${JSON.stringify(snapshot())}\n`));
process.on('exit', () => {
  sample();
  writeSync(2, `MEMPROBE peak ${JSON.stringify(peak)}\n`);
});
