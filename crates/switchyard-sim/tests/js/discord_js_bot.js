// A discord.js bot run against the fake Discord by tests/discord_js.rs.
//
// Usage: node discord_js_bot.js <port> [token]   (NODE_PATH naming where discord.js is)
//
// The port serves the gateway and REST: the fake's, or the face's (with a face token).
// It logs in with a token shaped as Discord's, sets a presence, fetches every member,
// sends a message and sees it arrive, reacts, edits it and sees the edit, deletes it, then
// reads the application, the roles, a member search, the guild with its counts and its own
// guilds, and overwrites the guild's commands. One line per step; exit 0 when every step
// passed, 1 when one failed, 3 when discord.js is not installed.

let discord;
try {
  discord = require('discord.js');
} catch (e) {
  console.error(`MISSING: discord.js is not installed (${e.message}); npm install discord.js`);
  process.exit(3);
}
const { Client, GatewayIntentBits, Events, ActivityType } = discord;

const port = process.argv[2];
const token = process.argv[3]
  ?? `${Buffer.from('1234567890123456789').toString('base64').replace(/=+$/, '')}.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456`;
const userId = Buffer.from(token.split('.')[0], 'base64').toString();
const client = new Client({
  intents: [
    GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent,
    GatewayIntentBits.GuildMembers,
  ],
  rest: { api: `http://127.0.0.1:${port}/api` },
});
const done = [];
const step = (line) => {
  done.push(line);
  console.log(line);
};
const seen = (event, check) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no ${event} in time`)), 10000);
  const listener = (...args) => {
    if (check(...args)) {
      clearTimeout(timer);
      client.off(event, listener);
      resolve();
    }
  };
  client.on(event, listener);
});

async function script(c) {
  step(`READY ${c.user.id === userId}`);
  const guild = c.guilds.cache.first();
  c.user.setPresence({ activities: [{ name: 'tests', type: ActivityType.Playing }], status: 'dnd' });
  const members = await guild.members.fetch();
  step(`MEMBERS ${members.size === guild.memberCount}`);
  const channel = guild.channels.cache.find((ch) => ch.type === 0);
  const created = seen(Events.MessageCreate, (m) => m.content === 'hello from discord.js');
  const message = await channel.send('hello from discord.js');
  await created;
  step('SAW_OWN_MESSAGE');
  await message.react('👍');
  const updated = seen(Events.MessageUpdate, (_, m) => m.id === message.id && m.content === 'edited');
  await message.edit('edited');
  await updated;
  step('SAW_EDIT');
  await message.delete();
  step('DELETED');
  const app = await c.application.fetch();
  step(`APPLICATION ${app.id === c.user.id}`);
  const roles = await guild.roles.fetch();
  step(`ROLES ${roles.size === guild.roles.cache.size}`);
  const someone = members.find((m) => !m.user.bot);
  const found = await guild.members.search({ query: someone.user.username.slice(0, 3), limit: 10 });
  step(`SEARCH ${found.has(someone.id)}`);
  const counted = await c.guilds.fetch({ guild: guild.id, withCounts: true, force: true });
  step(`GUILD ${counted.approximateMemberCount === guild.memberCount}`);
  const mine = await c.guilds.fetch();
  step(`MY_GUILDS ${mine.size === c.guilds.cache.size}`);
  const commands = await c.application.commands.set([{ name: 'ping', description: 'pong' }], guild.id);
  step(`COMMANDS ${commands.size === 1}`);
}

const want = ['READY true', 'MEMBERS true', 'SAW_OWN_MESSAGE', 'SAW_EDIT', 'DELETED',
  'APPLICATION true', 'ROLES true', 'SEARCH true', 'GUILD true', 'MY_GUILDS true', 'COMMANDS true'];
client.once(Events.ClientReady, async (c) => {
  let code = 0;
  try {
    await script(c);
  } catch (e) {
    console.log(`FAILED ${e.stack}`);
    code = 1;
  }
  await client.destroy();
  process.exit(code === 0 && JSON.stringify(done) === JSON.stringify(want) ? 0 : 1);
});
client.on(Events.Error, (e) => console.error(`ERROR ${e}`));
client.login(token);
setTimeout(() => { console.error('TIMEOUT'); process.exit(2); }, 60000);
