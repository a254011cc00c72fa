import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS } from '../command';

export const remove: Command = {
  name: 'remove',
  summary: 'remove a pool from a target',
  synopsis: '[--target HOST:PORT] NAME',
  description: 'Deletes pool NAME on the target. Fails with RPMEM_E_BUSY while anyone has it open.',
  options: { ...TARGET_OPTIONS, ...CONNECT_OPTIONS },
  takesName: true,
  examples: ['rpmem remove --target 10.0.0.2:7420 mypool'],
  async run(ctx) {
    await RemotePool.remove(ctx.target, ctx.name, ctx.connect());
    ctx.out.result(`removed ${ctx.name}`, { name: ctx.name, removed: true });
  },
};
