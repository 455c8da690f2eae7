import type { Catalog } from './zh-CN';

/** The console's own words in English (the switch); the same keys as the Chinese catalog, checked by the type. */
const en: Catalog = {
  app: {
    name: 'Gongche dispatch platform',
    language: 'Language',
    signOut: 'Sign out',
    docs: 'API docs',
  },
  nav: {
    trips: 'My trips',
    map: 'Vehicle map',
  },
  signIn: {
    title: 'Sign in',
    intro:
      'Paste the access token your administrator issued with gongche users add. It is kept in this browser tab only and is gone when the tab closes.',
    token: 'Access token',
    tokenRequired: 'Paste your access token',
    submit: 'Sign in',
    refused: 'This token is unknown or has expired: ask your administrator for a new one.',
    checking: 'Checking…',
  },
  trips: {
    title: 'My trips',
    empty: 'No trips',
    total: '{{count}} in all',
    id: 'No.',
    agency: 'Agency',
    purpose: 'Purpose',
    priority: 'Priority',
    pickupWindow: 'Pickup',
    pickup: 'From',
    dropoff: 'To',
    passengers: 'Passengers',
    status: 'Status',
    vehicle: 'Vehicle',
    createdAt: 'Requested',
    timeline: 'Timeline',
    timeZoneNote: 'All times are China time (24-hour)',
  },
  map: {
    title: 'Vehicle map',
    yards: 'Agency yards',
    agency: 'Agency',
    vehicles: 'Vehicles',
    located: 'Yard on record',
    forbidden: 'Your role may not read the vehicle registry (dispatchers, supervisors and administrators may).',
    noTiles: 'No base map is configured: the map shows the yards and a scale bar only.',
    unlocated: '{{count}} vehicles have no yard on record',
  },
  errors: {
    load: 'Could not load: {{detail}}',
  },
};

export default en;
