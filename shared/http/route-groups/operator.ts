/** Handlers of the operator routes: the on-demand expiry scan. */
import { withNoticeMessage } from '../../domain/expiry-notice';
import { runExpiryScan } from '../../usecases/expiry-scan';
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The operator group's routes, each with its handler. */
export const operatorRoutes: AnyRoute[] = [
  withHandler(SPECS.runExpiryScan, async ({ deps, body }) => {
    const result = await runExpiryScan(deps, body.now ? new Date(body.now) : deps.clock.now());
    return {
      status: 200,
      body: { scanned: result.scanned, notifications: result.notifications.map(withNoticeMessage) },
    };
  }),
];
