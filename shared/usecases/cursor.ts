/**
 * The API's list cursors (`nextCursor` / `?cursor=`): opaque to callers, base64url JSON of the
 * store's page position together with what it belongs to — the tenant, the list and its filter.
 * A cursor is honoured only for the same tenant, list and filter; anything else is a 400, so a
 * cursor of tenant A never moves a listing of tenant B (the stores build their keys from the
 * path's tenant as well, never from the cursor).
 */
import { ValidationError } from '../errors';

/** The lists that page with a cursor. */
export type CursorList = 'certificates' | 'notifications' | 'audit';

/** What a cursor is bound to besides its position. */
export interface CursorScope {
  tenantId: string;
  list: CursorList;
  /** The list's filter (status, certificate id), if any. */
  filter?: string | undefined;
}

interface CursorBody {
  t: string;
  l: CursorList;
  f?: string;
  p: string;
}

/** The cursor for the store position `position` in `scope`. */
export function encodeCursor(scope: CursorScope, position: string): string {
  const body: CursorBody = {
    t: scope.tenantId,
    l: scope.list,
    ...(scope.filter === undefined ? {} : { f: scope.filter }),
    p: position,
  };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/** The store position in `cursor`, if it was made for `scope`; else VALIDATION_ERROR (400). */
export function decodeCursor(cursor: string, scope: CursorScope): string {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    body = undefined;
  }
  const b = body as Partial<CursorBody> | undefined;
  if (
    typeof b === 'object' &&
    b !== null &&
    typeof b.p === 'string' &&
    b.t === scope.tenantId &&
    b.l === scope.list &&
    b.f === scope.filter
  ) {
    return b.p;
  }
  throw new ValidationError(
    'VALIDATION_ERROR',
    'The cursor is not one this API returned for this list (same tenant and filter); start again without it.',
    { details: { field: 'cursor' } },
  );
}
