import {
  AppError,
  ERROR_CODES,
  hasCode,
  hasKind,
  isRefusal,
  UPLOAD_VALIDATION_CODES,
  ValidationError,
} from '../../shared/errors';
import { STATUS_OF, WWW_AUTHENTICATE } from '../../shared/http/status';

describe('error codes', () => {
  it('gives every code a status, the upload validation codes all 400', () => {
    for (const code of ERROR_CODES) expect(STATUS_OF[code]).toBeGreaterThanOrEqual(400);
    expect(UPLOAD_VALIDATION_CODES.map((code) => STATUS_OF[code])).toEqual(
      UPLOAD_VALIDATION_CODES.map(() => 400),
    );
    expect(UPLOAD_VALIDATION_CODES).toContain('KEY_MISMATCH');
    expect(UPLOAD_VALIDATION_CODES).not.toContain('NOT_CMS');
  });

  it('tells errors apart by their code, whatever class built them', () => {
    const plain = new AppError('NO_MATCHING_KEY', 'no key');
    const validation = new ValidationError('NO_MATCHING_KEY', 'no key');

    expect([plain, validation].map((e) => [hasCode(e, 'NO_MATCHING_KEY'), isRefusal(e)])).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(isRefusal(new AppError('SERVICE_UNAVAILABLE', 'down'))).toBe(false);
    expect(isRefusal(new AppError('INTERNAL_ERROR', 'bug'))).toBe(false);
    expect(hasKind(new AppError('CERTIFICATE_IN_USE', 'in use'), 'not-found', 'conflict')).toBe(true);
    expect(isRefusal(Object.assign(new Error('foreign'), { code: 'NO_MATCHING_KEY' }))).toBe(false);
  });

  it('challenges a 401 with a Bearer scheme', () => {
    expect(STATUS_OF.UNAUTHORIZED).toBe(401);
    expect(WWW_AUTHENTICATE).toMatch(/^Bearer /);
  });
});
