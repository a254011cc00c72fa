import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS } from '../command';

export const info: Command = {
  name: 'info',
  summary: "print a pool's size, granularity, durability, sequence, epoch, LSN and attributes",
  synopsis: '[--target HOST:PORT] NAME',
  description: 'Reports pool NAME as the target sees it, without opening it.',
  options: { ...TARGET_OPTIONS, ...CONNECT_OPTIONS },
  takesName: true,
  examples: ['rpmem info --target 10.0.0.2:7420 mypool', 'rpmem info --target 10.0.0.2:7420 mypool --json | jq .durableSeq'],
  async run(ctx) {
    const info = await RemotePool.stat(ctx.target, ctx.name, ctx.connect());
    const human = [
      `name:         ${info.name}`,
      `size:         ${info.size}`,
      `granularity:  ${info.granularity}`,
      `durability:   ${info.durability}`,
      `durable seq:  ${info.durableSeq}`,
      `epoch:        ${info.epoch}`,
      `lsn:          ${info.lsn}`,
      `sync state:   ${info.syncState}`,
      `open:         ${info.open}`,
      `pool uuid:    ${info.poolUuid.toString('hex')}`,
      `signature:    ${info.attr.signature.toString('hex')}`,
    ].join('\n');
    ctx.out.result(human, info);
  },
};
