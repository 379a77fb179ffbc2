/**
 * Logical ids (and the names CDK derives from construct paths) as they were when every resource
 * sat directly in the stack, before the stack was split into parts (custody, metadata, events,
 * functions, API).
 *
 * Why: CloudFormation replaces a resource whose logical id changes. For the key bucket, the
 * table and the KMS keys (all retained) that means a new, empty bucket, table and key, with the
 * sealed keys and the metadata of a deployed stack left behind outside it. So a {@link StackPart}
 * groups resources for the reader only: it takes no place in their ids.
 *
 * The id algorithm is CDK's own (`makeUniqueId` in aws-cdk-lib core, not exported): the path
 * components without `Default`, the alphanumerics of the components (a component that the
 * previous one ends with is dropped, and so is `Resource`) and the first 8 hex digits of the
 * MD5 of the path. CDK cannot change it without replacing every deployed resource;
 * test/infra/aws-stack.test.ts pins the ids of the deployed resources all the same.
 */
import { createHash } from 'node:crypto';
import type { CfnElement } from 'aws-cdk-lib';
import { Construct, type IConstruct } from 'constructs';

/** A group of the stack's resources that does not count in their logical ids or generated names. */
export class StackPart extends Construct {}

/** CDK's `makeUniqueId` over path components. */
function uniqueId(path: readonly string[]): string {
  const components = path.filter((c) => c !== 'Default');
  const alphanumeric = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
  if (components.length === 1) {
    const candidate = alphanumeric(components[0] ?? '');
    if (candidate.length <= 255) return candidate;
  }
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) if (!human.at(-1)?.endsWith(c)) human.push(c);
  return (
    human
      .filter((c) => c !== 'Resource')
      .map(alphanumeric)
      .join('')
      .slice(0, 240) + hash
  );
}

/** The ids from below `top` down to `construct`, leaving out the stack parts. */
function flatPath(construct: IConstruct, top: IConstruct): string[] {
  const scopes = construct.node.scopes;
  return scopes
    .slice(scopes.indexOf(top) + 1)
    .filter((scope) => !(scope instanceof StackPart))
    .map((scope) => scope.node.id);
}

/** The logical id of an element as if no stack part held it (what `Stack.allocateLogicalId` gives a flat stack). */
export function flatLogicalId(element: CfnElement): string {
  return uniqueId(flatPath(element, element.stack));
}

/**
 * The `Names.uniqueId` the construct had in the flat stack: CDK derives some names and construct
 * ids from it (an event bus's generated name, an SQS event source's id).
 */
export function flatUniqueId(construct: IConstruct): string {
  return uniqueId(flatPath(construct, construct.node.root));
}
