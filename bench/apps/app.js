// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// app.js - bench/run's small JSON service in Node.js (express). With --instrument it measures
// itself the way a team would: prom-client's default metrics, a request-duration histogram
// middleware labelled by method, route template and status, and /metrics on the same port.
// Prints "READY <port>" once listening on 127.0.0.1 (an ephemeral port).
'use strict';

const express = require('express');

const instrument = process.argv.includes('--instrument');
const app = express();
app.disable('x-powered-by');
app.disable('etag');

if (instrument) {
  const client = require('prom-client');
  client.collectDefaultMetrics();
  const duration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests in seconds.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
  });
  app.use((req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      // The route template, not the path: /api/items/7 and /api/items/8 are one series.
      const route = req.route ? req.baseUrl + req.route.path : 'unmatched';
      end({ method: req.method, route, status_code: res.statusCode });
    });
    next();
  });
  app.get('/metrics', async (req, res) => {
    res.set('Content-Type', client.register.contentType);
    res.end(await client.register.metrics());
  });
}

const items = [
  { id: 1, name: 'anchor', qty: 3 },
  { id: 2, name: 'buoy', qty: 7 },
  { id: 3, name: 'cleat', qty: 12 },
];

app.get('/api/items', (req, res) => {
  res.json(items);
});

app.get('/api/items/:id', (req, res) => {
  const item = items.find((it) => it.id === Number(req.params.id));
  if (!item) {
    res.status(404).json({ error: 'no such item' });
    return;
  }
  res.json(item);
});

app.post('/api/items', express.json(), (req, res) => {
  res.status(201).json({ id: items.length + 1, ...req.body });
});

app.get('/api/fail', (req, res) => {
  res.status(500).json({ error: 'failed on purpose' });
});

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});
server.keepAliveTimeout = 60000;
process.on('SIGTERM', () => process.exit(0));
