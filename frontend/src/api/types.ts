// Short names for the API's schemas, all taken from the generated schema.d.ts.
import type { components } from './schema';

type Schemas = components['schemas'];
export type Order = Schemas['Order'];
export type OrderStatus = Schemas['OrderStatus'];
export type OrderEvent = Schemas['OrderEventView'];
export type Notification = Schemas['Notification'];
export type NotificationState = Schemas['NotificationState'];
export type NewOrderItem = Schemas['NewOrderItem'];
export type CreateOrder = Schemas['CreateOrder'];
export type Template = Schemas['Template'];
export type Preview = Schemas['Preview'];
export type Problem = Schemas['Problem'];
export type Role = Schemas['Role'];
export type Key = Schemas['Key'];
export type CreatedKey = Schemas['CreatedKey'];
export type SandboxMessage = Schemas['SandboxMessage'];
export type Encoding = Schemas['Encoding'];
export type OrderField = Schemas['OrderField'];
export type Settings = Schemas['Settings'];
export type Attempt = Schemas['Attempt'];
export type NotificationWithAttempts = Schemas['NotificationWithAttempts'];
export type EventType = Schemas['EventType'];
export type WebhookEndpoint = Schemas['WebhookEndpoint'];
export type CreatedWebhookEndpoint = Schemas['CreatedWebhookEndpoint'];
export type WebhookDelivery = Schemas['WebhookDelivery'];
