/**
 * The Azure Functions app (v4 Node programming model): the entry the Functions host loads
 * (package.json "main" of the deployed package, see docs/azure.md). Registering is all it does;
 * the handlers live in ./handlers. Outside the Functions host `app.*` registers nothing (the
 * library switches to test mode), so tests call the exported handlers directly.
 */
import { app } from '@azure/functions';
import { QUEUE_NAMES } from './adapters/queue-publisher';
import { handleAssignmentMessage } from './handlers/assignment-queue';
import { EXPIRY_SCAN_SCHEDULE, handleExpiryTimer } from './handlers/expiry-timer';
import { handleHttp, httpRegistrations } from './handlers/http';
import { handleNoticeMessage } from './handlers/notice-queue';
import {
  handleGetRecordingJob,
  handleRecordingJobMessage,
  handleStartRecordingJob,
  RECORDING_JOBS_QUEUE,
} from './handlers/recording-jobs';

for (const registration of httpRegistrations()) {
  app.http(registration.name, {
    methods: registration.methods,
    route: registration.route,
    // No function keys: the app validates the caller's JWT itself (functions/azure/auth.ts).
    authLevel: 'anonymous',
    handler: handleHttp,
  });
}

// The Azure batch engine of rewrap and verify: outside the core route table, like the AWS
// recording-batch function, and authenticated as the API (handlers/recording-jobs.ts).
app.http('startRecordingJob', {
  methods: ['POST'],
  route: 'v1/tenants/{tenantId}/recording-jobs',
  authLevel: 'anonymous',
  handler: handleStartRecordingJob,
});
app.http('getRecordingJob', {
  methods: ['GET'],
  route: 'v1/tenants/{tenantId}/recording-jobs/{jobId}',
  authLevel: 'anonymous',
  handler: handleGetRecordingJob,
});
app.storageQueue('recordingJobWorker', {
  queueName: RECORDING_JOBS_QUEUE,
  connection: 'AzureWebJobsStorage',
  handler: handleRecordingJobMessage,
});

app.storageQueue('ivrAssignmentConsumer', {
  queueName: QUEUE_NAMES.ivrAssignments,
  // The host's storage account, reached with the managed identity (AzureWebJobsStorage__accountName).
  connection: 'AzureWebJobsStorage',
  handler: handleAssignmentMessage,
});

app.timer('expiryScanDaily', {
  schedule: EXPIRY_SCAN_SCHEDULE,
  handler: handleExpiryTimer,
});

// Expiry notices to the webhook, when one is set; the queue is the outbox (handlers/notice-queue.ts).
if (process.env.RECCERT_WEBHOOK_URL) {
  app.storageQueue('expiryNoticeWebhook', {
    queueName: QUEUE_NAMES.expiryNotifications,
    connection: 'AzureWebJobsStorage',
    handler: handleNoticeMessage,
  });
}
