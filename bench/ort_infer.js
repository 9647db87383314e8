#!/usr/bin/env node
// ONNX Runtime's side of bench/compare_torch.py: inference throughput of a tower
// exported from PyTorch (bench/torch_seed.py --onnx), on random images in chunks
// of --batch, one warm-up pass, then one timed pass, like the other two sides.
//
//   node bench/ort_infer.js MODEL.onnx --shape C,H,W [--batch 16] [--threads 2] [--images 64]
//                           [--layers]
//
// --layers then runs the pass once more in a session with ONNX Runtime's profiler on
// and prints one line per layer of the PyTorch model (the first part of the node names
// the exporter gives, "/conv1_2/..."): its kernels' time per image, in graph order.
//
// onnxruntime-node is looked up under tests/onnx/node_modules (install it there with
// `cd tests/onnx && npm install --ignore-scripts --no-save onnxruntime-node`), then
// on NODE_PATH. Prints one key=value line; "impl=onnxruntime skipped=..." when absent.
'use strict';
const path = require('path');

function loadOrt() {
    const roots = [
        path.join(__dirname, '..', 'tests', 'onnx'), ...(process.env.NODE_PATH || '').split(':')
    ];
    for (const root of roots.filter((r) => r)) {
        try {
            return require(require.resolve('onnxruntime-node', {paths : [ root ]}));
        } catch (e) { /* try the next place */
        }
    }
    return null;
}

async function main() {
    const args = process.argv.slice(2);
    const opts = {batch : 16, threads : 2, images : 64};
    for (let i = 0; i < args.length; i++) {
        const key = args[i];
        if (!key.startsWith('--')) {
            opts.model = key;
            continue;
        }
        if (key === '--layers') {
            opts.layers = true;
            continue;
        }
        const value = args[++i];
        if (value === undefined) throw new Error(`${key} needs a value`);
        if (key === '--shape')
            opts.shape = value.split(',').map(Number);
        else if (key in {'--batch' : 1, '--threads' : 1, '--images' : 1})
            opts[key.slice(2)] = Number(value);
        else
            throw new Error(`unknown option '${key}'`);
    }
    if (!opts.model || !opts.shape || opts.shape.length !== 3 || opts.shape.some((d) => !(d > 0)))
        throw new Error(
            'usage: ort_infer.js MODEL.onnx --shape C,H,W [--batch N] [--threads N] [--images N]');
    const ort = loadOrt();
    if (!ort) {
        console.log(
            'impl=onnxruntime skipped=onnxruntime-node_not_found_under_tests/onnx/node_modules');
        return;
    }
    const sessionOptions = {
        executionProviders : [ 'cpu' ],
        graphOptimizationLevel : 'all',
        intraOpNumThreads : opts.threads,
        interOpNumThreads : 1,
    };
    const session = await ort.InferenceSession.create(opts.model, sessionOptions);
    const item = opts.shape[0] * opts.shape[1] * opts.shape[2];
    const images = new Float32Array(opts.images * item);
    for (let i = 0; i < images.length; i++) images[i] = Math.random();
    const pass = async (session) => {
        for (let start = 0; start < opts.images; start += opts.batch) {
            const k = Math.min(opts.batch, opts.images - start);
            const x = new ort.Tensor('float32', images.subarray(start * item, (start + k) * item),
                                     [ k, ...opts.shape ]);
            await session.run({[session.inputNames[0]] : x});
        }
    };
    await pass(session); // warm-up
    const t0 = process.hrtime.bigint();
    await pass(session);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rss = process.resourceUsage().maxRSS / 1024;
    let version = '?';
    try {
        version = require(require.resolve('onnxruntime-node/package.json', {
                      paths : [ path.join(__dirname, '..', 'tests', 'onnx') ]
                  })).version;
    } catch (e) { /* unknown */
    }
    console.log(`impl=onnxruntime batch=${opts.batch} threads=${opts.threads} ` +
                `infer_images_per_s=${(opts.images / seconds).toFixed(3)} peak_rss_mb=${
                    rss.toFixed(1)} ort=${version}`);
    if (opts.layers) await printLayers(ort, opts, sessionOptions, pass);
}

// The per-layer kernel times of one pass after a warm-up one, from the profile.
async function printLayers(ort, opts, sessionOptions, pass) {
    const fs = require('fs'), os = require('os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_layers.'));
    try {
        const session = await ort.InferenceSession.create(
            opts.model,
            {...sessionOptions, enableProfiling : true, profileFilePrefix : path.join(dir, 'p')});
        await pass(session);
        const runsBefore = opts.images / opts.batch;
        await pass(session);
        session.endProfiling();
        const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
        const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
        const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
        const timed = runs.slice(Math.ceil(runsBefore));
        const inTimed = (e) => timed.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
        const totals = new Map();
        for (const e of events) {
            if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inTimed(e)) continue;
            const m = /\/([^/]+)\//.exec(e.name);
            const layer = m ? m[1] : e.name.replace(/_kernel_time$/, '');
            totals.set(layer, (totals.get(layer) || 0) + e.dur); // microseconds
        }
        for (const [layer, us] of totals)
            console.log(`layer=${layer} ort_infer_ms_per_image=${(us / 1e3 / opts.images).toFixed(4)}`);
    } finally {
        fs.rmSync(dir, {recursive : true, force : true});
    }
}

main().catch((e) => {
    console.error(`ort_infer: ${e.message}`);
    process.exit(2);
});
