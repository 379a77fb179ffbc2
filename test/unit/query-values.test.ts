import { collectQuery } from '../../shared/http/api-handler';

describe('collectQuery', () => {
  it('keeps every value of a repeated parameter, in order', () => {
    const all = collectQuery(new URLSearchParams('to=a&x=1&to=b&to=c'));

    expect(all.to).toEqual(['a', 'b', 'c']);
    expect(all.x).toEqual(['1']);
  });

  it('treats names such as __proto__ and constructor like any other name', () => {
    const all = collectQuery(new URLSearchParams('__proto__=a&constructor=b&__proto__=c'));

    expect(Object.getOwnPropertyDescriptor(all, '__proto__')?.value).toEqual(['a', 'c']);
    expect(all.constructor).toEqual(['b']);
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });
});
