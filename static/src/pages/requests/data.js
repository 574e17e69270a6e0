// pages/requests/data.js — the requests page's words and API calls: what an
// availability or a status is called (always said in words, never by colour
// alone), and the calls to /api/v1/media/*.
import { api } from '../../lib/api.js';

export const AVAILABILITY = {
  available: 'Available', partially_available: 'Partly available', processing: 'Processing',
  requested: 'Requested', none: 'Not requested',
};
export const STATUS = {
  pending: 'Pending approval', approved: 'Approved', processing: 'Processing',
  partially_available: 'Partly available', available: 'Available', declined: 'Declined',
  failed: 'Failed', cancelled: 'Cancelled',
};
// The steps of the happy path, for the timeline.
export const STEPS = ['pending', 'approved', 'processing', 'available'];

export const poster = (path, size = 'w342') =>
  path ? `/api/v1/images/tmdb/${size}/${String(path).replace(/^\//, '')}` : null;

export const search = (q, page = 1, signal) =>
  api.get(`/media/search?q=${encodeURIComponent(q)}&page=${page}`, { signal });
export const details = (type, id) => api.get(`/media/${type}/${id}`);
export const createRequest = (body) => api.post('/media/request', body);
export const mine = (status) => api.get('/media/requests' + (status ? `?status=${status}` : ''));
export const following = () => api.get('/media/following');
export const one = (id) => api.get(`/media/requests/${id}`);
export const cancel = (id) => api.del(`/media/requests/${id}`);
export const follow = (id) => api.post(`/media/requests/${id}/watch`, {});
export const unfollow = (id) => api.del(`/media/requests/${id}/watch`);

export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

// "try again in 40 minutes" from a Retry-After in seconds.
export function later(seconds) {
  if (!seconds) return 'later';
  if (seconds < 90) return `in ${seconds} seconds`;
  if (seconds < 5400) return `in ${Math.round(seconds / 60)} minutes`;
  return `in ${Math.round(seconds / 3600)} hours`;
}
