// Imported first by a test file (before ./temporal.js installs a plain runtime): installs this
// process's Temporal runtime the way the worker entry points do, with its Prometheus metrics on a
// free local port. The runtime is one per process, so this must come before anything else of Temporal's.
import { createLogger } from '../../workers/logger.js';
import { installRuntime } from '../../workers/wiring.js';
import { freePort } from './ports.js';

const port = await freePort();
installRuntime(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), { metricsAddress: `127.0.0.1:${port}` });

/** Where the worker's Temporal runtime metrics are served. */
export const temporalMetricsUrl = `http://127.0.0.1:${port}/metrics`;
