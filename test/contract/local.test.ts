import { describeContract } from './suite';

describeContract({ name: 'local', entry: 'functions/local/main.ts', flow: 'aws' });
describeContract({ name: 'local', entry: 'functions/local/main.ts', flow: 'azure' });
