#!/usr/bin/env node
// Run an ONNX model exported by `twingrad export` in ONNX Runtime (onnxruntime-node, CPU).
//
//   node run_onnx.js --model tower.onnx --input images.f32 --shape C,H,W
//                    [--batch B] [--threads T] [--repeat R] [--out emb.csv]
//                    [--compare twingrad.csv --tol 1e-4]
//
// --input holds raw little-endian float32 images (N, C, H, W), as `twingrad embed
// --tensors` writes them; N is the file size over C*H*W*4. They run through the model
// in batches of B (default: all at once) on T intra-op threads (default: ORT's choice).
// --out writes one embedding per line. --compare reads a `twingrad embed` CSV (the last
// D fields of each row are the embedding), prints the largest absolute difference and
// exits 1 when it is above --tol. --repeat R times R full passes (after one warm-up) and
// prints a JSON line on stdout: {"images":N,"batch":B,"threads":T,"seconds":...,
// "images_per_second":...}, for benchmarks.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
    const opts = {batch: 0, threads: 0, repeat: 0, tol: 1e-4};
    for (let i = 0; i < argv.length; i++) {
        const key = argv[i], value = argv[i + 1];
        if (!key.startsWith('--') || value === undefined) throw new Error(`bad argument '${key}'`);
        i++;
        switch (key) {
        case '--model': opts.model = value; break;
        case '--input': opts.input = value; break;
        case '--shape': opts.shape = value.split(',').map(Number); break;
        case '--batch': opts.batch = Number(value); break;
        case '--threads': opts.threads = Number(value); break;
        case '--repeat': opts.repeat = Number(value); break;
        case '--out': opts.out = value; break;
        case '--compare': opts.compare = value; break;
        case '--tol': opts.tol = Number(value); break;
        default: throw new Error(`unknown option '${key}'`);
        }
    }
    if (!opts.model || !opts.input || !opts.shape) throw new Error('--model, --input and --shape are required');
    if (opts.shape.length !== 3 || opts.shape.some((d) => !(d > 0))) throw new Error('--shape is C,H,W');
    return opts;
}

async function embedAll(session, images, n, item, shape, batch) {
    const out = [];
    for (let start = 0; start < n; start += batch) {
        const k = Math.min(batch, n - start);
        const x = new ort.Tensor('float32', images.subarray(start * item, (start + k) * item), [k, ...shape]);
        const result = await session.run({[session.inputNames[0]]: x});
        const y = result[session.outputNames[0]];
        const d = y.dims[1];
        for (let i = 0; i < k; i++) out.push(Array.from(y.data.subarray(i * d, (i + 1) * d)));
    }
    return out;
}

function readCsvEmbeddings(path, d) {
    const lines = fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
    return lines.slice(1).map((line) => line.split(',').slice(-d).map(Number));
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const bytes = fs.readFileSync(opts.input);
    const item = opts.shape[0] * opts.shape[1] * opts.shape[2];
    if (bytes.length % (item * 4) !== 0) throw new Error(`${opts.input}: size is not a whole number of images`);
    const n = bytes.length / (item * 4);
    const images = new Float32Array(n * item);
    for (let i = 0; i < n * item; i++) images[i] = bytes.readFloatLE(i * 4);
    const batch = opts.batch > 0 ? opts.batch : Math.max(n, 1);
    const sessionOpts = {executionProviders: ['cpu'], graphOptimizationLevel: 'all'};
    if (opts.threads > 0) sessionOpts.intraOpNumThreads = opts.threads;
    const session = await ort.InferenceSession.create(opts.model, sessionOpts);
    const emb = await embedAll(session, images, n, item, opts.shape, batch);
    if (opts.out) fs.writeFileSync(opts.out, emb.map((e) => e.join(',')).join('\n') + '\n');
    if (opts.repeat > 0) {
        const t0 = process.hrtime.bigint();
        for (let r = 0; r < opts.repeat; r++) await embedAll(session, images, n, item, opts.shape, batch);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        console.log(JSON.stringify({images: n * opts.repeat, batch, threads: opts.threads, seconds,
                                    images_per_second: (n * opts.repeat) / seconds}));
    }
    if (opts.compare) {
        const d = emb.length ? emb[0].length : 0;
        const ref = readCsvEmbeddings(opts.compare, d);
        if (ref.length !== emb.length) throw new Error(`${opts.compare}: ${ref.length} rows, ONNX gave ${emb.length}`);
        let worst = 0;
        for (let i = 0; i < emb.length; i++)
            for (let k = 0; k < d; k++) {
                const diff = Math.abs(emb[i][k] - ref[i][k]);
                if (!(diff <= worst)) worst = diff; // NaN counts as the worst
            }
        console.log(`${opts.model}: ${emb.length} images x ${d} floats, max abs difference ${worst.toExponential(3)} (tolerance ${opts.tol})`);
        if (!(worst <= opts.tol)) process.exit(1);
    }
}

main().catch((e) => {
    console.error(`run_onnx: ${e.message}`);
    process.exit(2);
});
