// import() resolves from the file that calls it: this one sits beside bench/peers/node_modules.
export const importFromPeers = (specifier) => import(specifier);
