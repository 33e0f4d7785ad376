/** Every test file in one process, so the app is synthesized once per context, not once per file. */
import './config.test';
import './names.test';
import './data.test';
import './resilience.test';
import './backup.test';
import './secrets.test';
import './auth.test';
import './services.test';
import './least-privilege.test';
import './api-cdn.test';
import './firewall.test';
import './seller-page.test';
import './alarms.test';
import './observability.test';
import './dashboard.test';
import './pipeline.test';
import './nag.test';
