/** Handlers of the public routes (health): no use case, no permission. */
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The public group's routes, each with its handler. */
export const publicRoutes: AnyRoute[] = [
  withHandler(SPECS.getHealth, async (ctx) => ({
    status: 200,
    body: { status: 'ok', version: ctx.version },
  })),
];
