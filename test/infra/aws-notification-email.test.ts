import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/aws/app';

// No bundling: only the topic and its subscriptions are looked at.
const quick = { 'aws:cdk:bundling-stacks': [] };
const outdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-cdk-email-'));

describe('the notificationEmail deploy context (infra/aws/app.ts)', () => {
  it('subscribes the address to the expiry notification topic by e-mail', () => {
    const { stack } = buildApp({
      outdir: outdir(),
      context: { ...quick, notificationEmail: 'ops@example.com' },
    });
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::SNS::Subscription', 1);
    const [subscription] = Object.values(template.findResources('AWS::SNS::Subscription'));
    const topics = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(subscription?.Properties).toEqual({
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: expect.stringMatching(/ExpiryTopic/) },
    });
    expect(topics).toContain(subscription?.Properties.TopicArn.Ref);
  });

  it('subscribes nobody without it, and refuses a value that is no e-mail address', () => {
    const { stack } = buildApp({ outdir: outdir(), context: quick });
    Template.fromStack(stack).resourceCountIs('AWS::SNS::Subscription', 0);

    expect(() =>
      buildApp({ outdir: outdir(), context: { ...quick, notificationEmail: 'ops at example' } }),
    ).toThrow(/notificationEmail must be an e-mail address/);
  });
});
