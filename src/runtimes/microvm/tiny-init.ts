/**
 * The probe guest's /init: a ~200-byte static x86-64 Linux program that writes a marker line to
 * the console and powers the machine off. Hand-assembled so the probe needs no file from the host
 * but a kernel: if this line appears, the kernel booted to user space under that accelerator.
 */
const BASE = 0x400000;
const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const CODE_OFFSET = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE;

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function machineCode(messageLength: number): number[] {
  // write(1, message, length); reboot(MAGIC1, MAGIC2, POWER_OFF, 0); for (;;);
  const code: number[] = [];
  code.push(0xb8, ...u32(1)); // mov eax, 1 (write)
  code.push(0xbf, ...u32(1)); // mov edi, 1
  const leaAt = code.length;
  code.push(0x48, 0x8d, 0x35, 0, 0, 0, 0); // lea rsi, [rip + message]
  code.push(0xba, ...u32(messageLength)); // mov edx, length
  code.push(0x0f, 0x05); // syscall
  code.push(0xb8, ...u32(169)); // mov eax, 169 (reboot)
  code.push(0xbf, ...u32(0xfee1dead)); // mov edi, LINUX_REBOOT_MAGIC1
  code.push(0xbe, ...u32(672274793)); // mov esi, LINUX_REBOOT_MAGIC2
  code.push(0xba, ...u32(0x4321fedc)); // mov edx, LINUX_REBOOT_CMD_POWER_OFF
  code.push(0x0f, 0x05); // syscall
  code.push(0xeb, 0xfe); // jmp $ (if power-off is refused, idle until killed)
  // The message follows the code: rip-relative distance from the end of the lea.
  const displacement = code.length - (leaAt + 7);
  code.splice(leaAt + 3, 4, ...u32(displacement));
  return code;
}

/** An ELF executable printing `message` (ASCII) on fd 1, then powering off. */
export function tinyInitElf(message: string): Buffer {
  const text = Buffer.from(message, 'ascii');
  const code = Buffer.from(machineCode(text.length));
  const size = CODE_OFFSET + code.length + text.length;
  const out = Buffer.alloc(size);
  // ELF header: 64-bit, little endian, System V, executable, x86-64.
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  out.writeUInt16LE(2, 16);
  out.writeUInt16LE(0x3e, 18);
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(BASE + CODE_OFFSET), 24);
  out.writeBigUInt64LE(BigInt(ELF_HEADER_SIZE), 32);
  out.writeUInt16LE(ELF_HEADER_SIZE, 52);
  out.writeUInt16LE(PROGRAM_HEADER_SIZE, 54);
  out.writeUInt16LE(1, 56);
  // One PT_LOAD segment, read + execute, mapping the whole file at BASE.
  const ph = ELF_HEADER_SIZE;
  out.writeUInt32LE(1, ph);
  out.writeUInt32LE(5, ph + 4);
  out.writeBigUInt64LE(0n, ph + 8);
  out.writeBigUInt64LE(BigInt(BASE), ph + 16);
  out.writeBigUInt64LE(BigInt(BASE), ph + 24);
  out.writeBigUInt64LE(BigInt(size), ph + 32);
  out.writeBigUInt64LE(BigInt(size), ph + 40);
  out.writeBigUInt64LE(0x1000n, ph + 48);
  code.copy(out, CODE_OFFSET);
  text.copy(out, CODE_OFFSET + code.length);
  return out;
}
