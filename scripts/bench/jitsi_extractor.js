// Runs jitsi/rtcstats-server's feature extractor in this Node process, for scripts/bench/jitsi_compare.py.
//
//     NODE_ENV=production NODE_CONFIG_DIR=<checkout>/config node jitsi_extractor.js <checkout>
//
// Commands arrive one JSON object per line on stdin; each answer is one stdout line starting with
// "@@bench " (the extractor's own logger also writes to stdout, so answers are marked):
//   {"op": "load", "path": P} -> {"ok": true} or {"ok": false, "error": "..."}: reads P into memory as
//       lines and extracts once (warm-up; a dump the extractor refuses is reported here, not timed).
//   {"op": "run", "path": P}  -> {"ms": <wall ms of one extraction>, "cpuMs": <CPU ms of this process then>}
// One extraction is what the server's DumpFileProcessor.processStatsFile does for a dump, minus the disk:
// a new DumpFileProcessor, processEntry(line, sizeof(line)) for every line, then extract(). The lines are
// in memory already because our side also starts from bytes in memory.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const checkout = path.resolve(process.argv[2]);
const DumpFileProcessor = require(path.join(checkout, 'src/worker-pool/DumpFileProcessor'));
const sizeof = require(require.resolve('object-sizeof', { paths: [ checkout ] }));

const loaded = new Map();

async function extractOnce(file) {
    const processor = new DumpFileProcessor({ dumpPath: file.path, clientId: path.basename(file.path) });

    for (const line of file.lines) {
        processor.processEntry(line, sizeof(line));
    }

    return processor.featureExtractor ? processor.featureExtractor.extract() : null;
}

function readLines(filePath) {
    // readline (what the server uses) splits on \n and \r\n and yields no empty last line
    const lines = fs.readFileSync(filePath, 'utf8').split(/\r?\n/);

    if (lines.length && lines[lines.length - 1] === '') {
        lines.pop();
    }

    return lines;
}

async function handle(command) {
    if (command.op === 'load') {
        const file = { path: command.path, lines: readLines(command.path) };

        try {
            await extractOnce(file);
        } catch (err) {
            return { ok: false, error: String((err && err.message) || err) };
        }
        loaded.set(command.path, file);

        return { ok: true };
    }
    if (command.op === 'run') {
        const file = loaded.get(command.path);

        if (!file) {
            return { error: `not loaded: ${command.path}` };
        }
        const cpu = process.cpuUsage();
        const start = process.hrtime.bigint();

        await extractOnce(file);

        const wall = Number(process.hrtime.bigint() - start) / 1e6;
        const used = process.cpuUsage(cpu);

        return { ms: wall, cpuMs: (used.user + used.system) / 1e3 };
    }

    return { error: `unknown op ${command.op}` };
}

(async () => {
    for await (const line of readline.createInterface({ input: process.stdin })) {
        process.stdout.write(`@@bench ${JSON.stringify(await handle(JSON.parse(line)))}\n`);
    }
})();
