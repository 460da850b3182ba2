export default function handle() {
  return 'Hello from node!\n';
}
